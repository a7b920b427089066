#!/usr/bin/env bash
# Fill deploy/emr's templates from the environment and submit chargeback's EMR on EKS build job.
#
#   deploy/emr/submit.sh request        print the filled start-job-run request (no AWS call)
#   deploy/emr/submit.sh policy         print the filled job execution role's permissions policy
#   deploy/emr/submit.sh trust-policy   print the filled trust policy (what update-role-trust-policy writes)
#   deploy/emr/submit.sh upload         copy the filled pod templates and $CONFIG to s3://$JOB_BUCKET/$JOB_PREFIX/
#   deploy/emr/submit.sh start          upload, then aws emr-containers start-job-run (prints the job run's id)
#
# Every ${NAME} a template uses must be set (docs/spark.md lists them);
# one that is not stops the script before anything is sent. BASE36_JOB_ROLE is computed from JOB_ROLE.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The base-36 form of a role name, as `aws emr-containers update-role-trust-policy` computes it for the
# service account names of EMR on EKS jobs (the name's bytes read as one big-endian number).
base36() {
    python3 - "$1" <<'PY'
import sys
number = int.from_bytes(sys.argv[1].encode(), "big")
digits = ""
while number:
    number, remainder = divmod(number, 36)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"[remainder] + digits
print(digits or "0")
PY
}

# Print a template with its ${NAME} placeholders filled from the environment, and only those (envsubst
# alone would turn an unset one into an empty string).
fill() {
    local template=$1 names missing=() name
    names=$(grep -o '\${[A-Z0-9_]*}' "$template" | sort -u | tr -d '${}')
    for name in $names; do
        [[ -n "${!name:-}" ]] || missing+=("$name")
    done
    if ((${#missing[@]})); then
        echo "submit.sh: set ${missing[*]} (used by $(basename "$template"))" >&2
        exit 2
    fi
    envsubst "$(printf '${%s} ' $names)" <"$template"
}

upload() {
    : "${CONFIG:?set CONFIG to the chargeback.toml the job builds with}"
    local file filled_dir
    for file in "$HERE/start-job-run.json" "$HERE"/*-pod-template.yaml; do
        fill "$file" >/dev/null  # every placeholder set before anything is copied
    done
    filled_dir=$(mktemp -d)
    for file in "$HERE/driver-pod-template.yaml" "$HERE/executor-pod-template.yaml"; do
        fill "$file" >"$filled_dir/$(basename "$file")"
        aws s3 cp "$filled_dir/$(basename "$file")" "s3://$JOB_BUCKET/$JOB_PREFIX/$(basename "$file")"
    done
    rm -rf "$filled_dir"
    aws s3 cp "$CONFIG" "s3://$JOB_BUCKET/$JOB_PREFIX/chargeback.toml"
}

case "${1:-}" in
    request) fill "$HERE/start-job-run.json" ;;
    policy) fill "$HERE/iam-job-execution-policy.json" ;;
    trust-policy)
        : "${JOB_ROLE:?set JOB_ROLE to the name of the job execution role}"
        BASE36_JOB_ROLE=$(base36 "$JOB_ROLE") && export BASE36_JOB_ROLE
        fill "$HERE/iam-job-execution-trust-policy.json"
        ;;
    upload) upload ;;
    start)
        upload
        request=$(mktemp)
        trap 'rm -f "$request"' EXIT
        fill "$HERE/start-job-run.json" >"$request"
        aws emr-containers start-job-run --region "${AWS_REGION:?set AWS_REGION}" \
            --cli-input-json "file://$request" --query id --output text
        ;;
    *)
        sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
