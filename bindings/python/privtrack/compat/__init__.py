"""Drop-in interfaces of the modules privtrack replaces (see
``privtrack.compat.dynamodb_tracker``)."""
