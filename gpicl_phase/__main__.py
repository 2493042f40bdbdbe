from gpicl_phase.cli import main

raise SystemExit(main())
