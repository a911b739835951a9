"""`kaimen courtlist` and `kaimen review`, through Typer's test runner, on SQLite and
PostgreSQL."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from kaimen.cli import app
from kaimen.dueprocess import identity_links
from kaimen.store import audit
from kaimen.store.database import open_store
from kaimen.store.tables import court_listings, people
from kaimen.store.tables import identity_links as links_table
from tests.conftest import make_national_id

SECRET = base64.b64encode(bytes(range(32))).decode("ascii")
ID_ZHANG = make_national_id(birth="19850512", sequence="001")
ID_LI = make_national_id(birth="19920101", sequence="002")
MASKED_LI = ID_LI[:6] + "********" + ID_LI[14:]
HEADER = "name,id_number,case_number,court,amount,currency,judgment_date,status\n"
runner = CliRunner()


def test_courtlist_and_review_commands(tmp_path: Path, database_url: str) -> None:
    env = {
        "KAIMEN_HOME": str(tmp_path / "home"),
        "KAIMEN_SECRET_KEY": SECRET,
        "KAIMEN_DATABASE_URL": database_url,
        "KAIMEN_ADMIN_TOKEN": None,
        "COLUMNS": "250",
        "NO_COLOR": "1",
        "TERM": "dumb",
    }

    def kaimen(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.output

    for phone, number in (("13800138000", ID_ZHANG), ("13900139000", ID_LI)):
        code, out = kaimen("enrol", "--phone", phone, "--national-id", number)
        assert code == 0, out
    court = tmp_path / "list.csv"
    court.write_text(
        HEADER
        + f"张三丰,{ID_ZHANG},(2025)京01执1号,北京一中院,1200,,2025-06-01,entered\n"
        + f"李四光,{MASKED_LI},(2025)京01执2号,北京一中院,300,,2025-06-02,entered\n",
        encoding="utf-8",
    )
    code, out = kaimen("courtlist", "import", str(court))
    assert code == 0, out
    assert "2 new listings" in out and "1 linked by ID number" in out
    code, out = kaimen("courtlist", "import", str(court))
    assert code == 0 and "imported before" in out

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "张三丰,123,c1,court,12,,2025-06-01,paid\n", encoding="utf-8")
    report = tmp_path / "problems.csv"
    code, out = kaimen("courtlist", "import", str(bad), "--report", str(report))
    assert code == 1 and "nothing was stored" in out
    assert "line 2: id_number" in out and "line 2: status" in out
    assert "张三丰" not in out and "张三丰" not in report.read_text(encoding="utf-8")

    engine = open_store(database_url)
    with engine.connect() as store:
        masked_id = store.execute(
            select(court_listings.c.listing_id).where(court_listings.c.id_form == "masked")
        ).scalar_one()
    with engine.connect() as store:
        zhang = store.execute(select(links_table.c.person_id)).scalar_one()
        (li,) = [p for p in store.execute(select(people.c.person_id)).scalars() if p != zhang]
    identity_links.apply_matches(
        engine, [], [identity_links.Candidate(masked_id, li, 0.75)], "matcher"
    )
    code, out = kaimen("review", "list")
    assert code == 0 and MASKED_LI in out and "0.750" in out
    review_id = re.search(r"^\S*\s*(\d+)\s", out.split("candidate links", 1)[1], re.M)
    assert review_id, out
    code, out = kaimen("review", "approve", review_id.group(1))
    assert code == 0, out
    link_id = re.search(r"link (K[0-9A-F]{16})", out)
    assert link_id and li in out
    code, out = kaimen("review", "reject", review_id.group(1))
    assert code == 1 and "approved already" in out
    code, out = kaimen("courtlist", "show", masked_id)
    assert code == 0 and "李四光" in out and "review" in out
    code, out = kaimen("courtlist", "unlink", link_id.group(1), "--reason", "not the same man")
    assert code == 0 and "undone" in out
    code, out = kaimen("courtlist", "unlink", link_id.group(1), "--reason", "again")
    assert code == 1 and "undone already" in out
    assert audit.verify(engine) >= 8
    engine.dispose()
