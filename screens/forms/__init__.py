"""Form pieces the screens share: field rows with inline errors (``fields``)."""
