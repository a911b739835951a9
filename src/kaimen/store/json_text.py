"""How JSON columns are written, by SQLAlchemy and by the paths that use the driver alone."""

from __future__ import annotations

import json

# Records hold no cycles, so the check for them (a bookkeeping step for every list and
# object) is left out; the monthly batch writes two JSON values a person.
JSON_TEXT = json.JSONEncoder(check_circular=False).encode
