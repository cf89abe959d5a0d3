"""One module per tab, in page order: each ``build()`` lays out its components and ``wire()`` binds its events."""
