"""The app's pages by URL path.

Each module has PATH, FIGURE (its export), body(stores, search), register(app, stores), and optionally
layout_key(source, query): the selections that change which controls it shows (the page is rebuilt on change).
"""

from app.pages import detail, improvement, phase, plateau, progress, runs, statesize

PAGES = {m.PATH: m for m in (phase, detail, plateau, improvement, statesize, progress, runs)}
