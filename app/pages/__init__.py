"""The app's pages by URL path; each module has PATH, FIGURE, body(stores, search) and register(app, stores)."""

from app.pages import detail, improvement, phase, plateau, progress, statesize

PAGES = {m.PATH: m for m in (phase, detail, plateau, improvement, statesize, progress)}
