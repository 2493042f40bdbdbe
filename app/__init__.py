"""The Dash app that browses results stores: `app.main.create_app(paths)` builds it, `app.main.serve` runs it."""
