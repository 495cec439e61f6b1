"""Infrastructure that imports nothing else of ours: settings, db, ids, errors, pagination."""
