"""``python -m pyre_http``"""

from .cli import main

raise SystemExit(main())
