from chargeback.cli import main

main()
