"""The sources: one module per source, each yielding Arrow batches of the streams it declares in
``collectors.streams``. ``collectors.base`` says what a source is; ``collectors.registry`` lists them by name.
A source imports only ``chargeback.core``: where its rows land and what is built from them is decided above it.
"""
