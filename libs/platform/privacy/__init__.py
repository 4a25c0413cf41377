"""Personal data: sealing (per-subject keys), privacy records, consent receipts, access records."""
