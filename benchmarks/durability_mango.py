"""Mango webhooks across a SIGKILL: every acknowledged event survives, none is stored twice.

    uv run python benchmarks/durability_mango.py --events 100000 --senders 64 --kill-after 50000

Seeds a company with a Mango key and salt in a fresh SQLite store, starts
`uvicorn realtime.app:create_app` in its own process (`CALLPATH_SQLITE_SYNCHRONOUS=full`)
and posts N distinct signed events (for each call: call events seq 1..3, then the
summary; numbers as strings, as in Mango's own examples) from a pool of concurrent
senders. Once `--kill-after` events are acknowledged it kills the service with SIGKILL
while requests are in flight, restarts it on the same files, resends every event that
did not get a 2xx (no reply counts as not acknowledged), then resends a random sample of
acknowledged events, which must come back `duplicate: true`. Finally it reads the
SQLite file read-only and checks: every acknowledged event is stored exactly once and
intact, the table holds exactly the distinct events sent, and every call was rebuilt
from all of its events. Exits 1 on any violation.

The core (`build_events`, `seed_company`, `run`) is importable: the integration test
`tests/integration/test_mango_durability.py` runs the same check at small scale.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import free_port, machine_notes, start_service
from realtime.mango.signing import sign

COMPANY_ID = "durable"
MANGO_KEY = "durable-vpbx-key"
MANGO_SALT = "durable-vpbx-salt"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
T0 = int(datetime(2026, 11, 18, 9, 0, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class MangoEvent:
    """One signed webhook, ready to post: `key` is the store's dedupe key minus company."""

    path: str
    key: tuple[str, str, int, str]  # entry_id, call_id, seq, event_type
    json_text: str
    body: bytes


def _signed(path: str, key: tuple, payload: dict, api_key: str, salt: str) -> MangoEvent:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    body = urlencode({"vpbx_api_key": api_key, "sign": sign(api_key, text, salt), "json": text})
    return MangoEvent(path, key, text, body.encode("ascii"))


def call_events(
    entry_id: str, start: int, rng: random.Random, api_key: str = MANGO_KEY, salt: str = MANGO_SALT
) -> list[MangoEvent]:
    """One inbound call as Mango reports it: three leg states, then the summary."""
    call_id = f"{entry_id}-1"
    caller = f"7916{rng.randrange(10**7):07d}"
    line = f"749555{rng.randrange(10**4):04d}"
    extension = str(101 + rng.randrange(40))
    answered = rng.random() >= 0.2
    ring = 3 + rng.randrange(25)
    talk = rng.randrange(5, 600) if answered else 0
    end = start + ring + talk
    base = {
        "entry_id": entry_id,
        "call_id": call_id,
        "from": {"number": caller},
        "dct": {"number": line, "type": "1"},
    }
    to = {"line_number": line, "extension": extension}
    legs = [
        {"timestamp": str(start), "call_state": "Appeared", "location": "ivr"},
        {
            "timestamp": str(start + ring),
            "call_state": "Connected" if answered else "Appeared",
            "location": "abonent",
        },
        {
            "timestamp": str(end),
            "call_state": "Disconnected",
            "location": "abonent",
            "disconnect_reason": "1110",
        },
    ]
    events = [
        _signed(
            "/mango/events/call",
            (entry_id, call_id, seq, "call"),
            {**base, "seq": str(seq), "to": to, **leg},
            api_key,
            salt,
        )
        for seq, leg in enumerate(legs, start=1)
    ]
    summary = {
        "entry_id": entry_id,
        "call_direction": "1",
        "from": {"number": caller},
        "to": {"extension": extension},
        "line_number": line,
        "create_time": str(start),
        "forward_time": str(start + 2),
        "talk_time": str(start + ring) if answered else "0",
        "end_time": str(end),
        "entry_result": "1" if answered else "0",
        "disconnect_reason": "1110",
    }
    events.append(
        _signed("/mango/events/summary", (entry_id, "", 0, "summary"), summary, api_key, salt)
    )
    return events


def build_events(
    count: int,
    *,
    seed: int = 1,
    prefix: str = "E",
    api_key: str = MANGO_KEY,
    salt: str = MANGO_SALT,
    window: int = 64,
) -> list[MangoEvent]:
    """`count` distinct events, four per call (so ~count/4 calls). Events are shuffled
    within windows of `window`, so a call's events also arrive out of order."""
    rng = random.Random(seed)
    events: list[MangoEvent] = []
    call = 0
    while len(events) < count:
        entry_id = f"{prefix}{call:08d}"
        events += call_events(entry_id, T0 + call * 3, rng, api_key, salt)
        call += 1
    del events[count:]
    for i in range(0, count, window):
        chunk = events[i : i + window]
        rng.shuffle(chunk)
        events[i : i + window] = chunk
    return events


def service_env(workdir: Path, synchronous: str = "full") -> dict[str, str]:
    """Everything the service writes goes under `workdir`."""
    return {
        "CALLPATH_VAR_DIR": str(workdir),
        "CALLPATH_EVENT_STORE_URL": f"sqlite:///{workdir / 'events.sqlite3'}",
        "CALLPATH_POOL_STORE_URL": f"sqlite:///{workdir / 'pool.sqlite3'}",
        "CALLPATH_WAREHOUSE_PATH": str(workdir / "warehouse.duckdb"),
        "CALLPATH_SQLITE_SYNCHRONOUS": synchronous,
    }


def seed_company(
    workdir: Path,
    synchronous: str = "full",
    company_id: str = COMPANY_ID,
    api_key: str = MANGO_KEY,
    salt: str = MANGO_SALT,
) -> Path:
    """Create the company that owns the Mango key; returns the event-store file."""
    from realtime.domain import Company
    from realtime.settings import Settings
    from realtime.store import open_event_store

    env = service_env(workdir, synchronous)
    settings = Settings(
        _env_file=None,
        event_store_url=env["CALLPATH_EVENT_STORE_URL"],
        sqlite_synchronous=synchronous,
    )
    store = open_event_store(settings)
    store.create_company(
        Company(id=company_id, name="Durable", mango_api_key=api_key, mango_api_salt=salt)
    )
    store.close()
    return settings.sqlite_path()


# sending ----------------------------------------------------------------------------


@dataclass
class Outcome:
    status: int | None  # None: no reply (connection refused, reset, timeout)
    duplicate: bool | None = None
    error: str | None = None
    after_stop: bool = False  # the failure came after `on_ack` asked to stop (the kill)

    @property
    def acked(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def _send_async(
    base_url: str,
    events: list[MangoEvent],
    indices: Iterable[int],
    senders: int,
    on_ack: Callable[[int], bool] | None,
    timeout: float,
) -> dict[int, Outcome]:
    """Post `events[i]` for each index with `senders` concurrent connections. After each
    2xx, `on_ack(acked_so_far)` may return True to stop: later indices stay unsent (they
    are absent from the result)."""
    results: dict[int, Outcome] = {}
    pending = iter(indices)
    acked = 0
    stop = False
    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as client:

        async def sender() -> None:
            nonlocal acked, stop
            for i in pending:
                if stop:
                    return
                event = events[i]
                try:
                    reply = await client.post(event.path, content=event.body, headers=FORM)
                except httpx.HTTPError as exc:
                    results[i] = Outcome(None, error=type(exc).__name__, after_stop=stop)
                    continue
                outcome = Outcome(reply.status_code)
                if outcome.acked:
                    try:
                        outcome.duplicate = reply.json().get("duplicate")
                    except ValueError:
                        outcome.error = "2xx without JSON"
                    acked += 1
                    if on_ack is not None and not stop and on_ack(acked):
                        stop = True
                else:
                    outcome.error = reply.text[:200]
                results[i] = outcome

        await asyncio.gather(*(sender() for _ in range(senders)))
    return results


def send(
    base_url: str,
    events: list[MangoEvent],
    indices: Iterable[int],
    senders: int,
    on_ack: Callable[[int], bool] | None = None,
    timeout: float = 60.0,
) -> dict[int, Outcome]:
    return asyncio.run(_send_async(base_url, events, indices, senders, on_ack, timeout))


# verification -----------------------------------------------------------------------


@dataclass
class StoreCheck:
    total_rows: int
    distinct_keys: int
    duplicate_keys: int
    missing_acked: int
    missing_any: int
    unexpected: int
    corrupted: int
    calls: int
    stale_calls: int


def check_store(
    db_path: Path, company_id: str, events: list[MangoEvent], acked: set[int]
) -> StoreCheck:
    """Read the event-store file read-only and compare it with what was sent."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        total_rows = conn.execute("select count(*) from call_events").fetchone()[0]
        duplicate_keys = conn.execute(
            "select count(*) from (select 1 from call_events"
            " group by company_id, entry_id, call_id, seq, event_type having count(*) > 1)"
        ).fetchone()[0]
        rows = conn.execute(
            "select entry_id, call_id, seq, event_type, doc from call_events where company_id = ?",
            (company_id,),
        ).fetchall()
        call_rows = conn.execute(
            "select entry_id, doc from calls where company_id = ?", (company_id,)
        ).fetchall()
    finally:
        conn.close()

    stored = {(e, c, s, t): doc for e, c, s, t, doc in rows}
    sent = {ev.key: ev for ev in events}
    corrupted = sum(
        1
        for key, doc in stored.items()
        if key in sent and json.loads(doc)["payload"] != json.loads(sent[key].json_text)
    )
    # A call is rebuilt from all of its events on every delivery: once each event has been
    # acknowledged, the call must show every leg state that was sent for it.
    legs = Counter(key[0] for key in sent if key[3] == "call")
    entries = {key[0] for key in sent}
    calls = {entry: json.loads(doc) for entry, doc in call_rows}
    stale = sum(
        1 for entry in entries if entry not in calls or len(calls[entry]["states"]) != legs[entry]
    )
    return StoreCheck(
        total_rows=total_rows,
        distinct_keys=len(stored),
        duplicate_keys=duplicate_keys,
        missing_acked=sum(1 for i in acked if events[i].key not in stored),
        missing_any=len(sent.keys() - stored.keys()),
        unexpected=len(stored.keys() - sent.keys()),
        corrupted=corrupted,
        calls=len(calls),
        stale_calls=stale,
    )


# the run ----------------------------------------------------------------------------


@dataclass
class Report:
    events: int
    senders: int
    kill_after: int
    acked_before_kill: int = 0
    in_flight_at_kill: int = 0  # sent, no reply, cut off by the kill
    no_reply_before_kill: Counter = field(default_factory=Counter)  # live server, no reply
    in_flight_committed: int = 0  # of those, found already stored when resent
    rejected_before_kill: int = 0  # a reply, but not 2xx
    unsent_at_kill: int = 0
    resent_after_restart: int = 0
    resend_rounds: int = 0
    sample_resent: int = 0
    sample_duplicate: int = 0
    non_2xx_replies: Counter = field(default_factory=Counter)
    no_reply_after_restart: Counter = field(default_factory=Counter)
    phase1_seconds: float = 0.0
    restart_seconds: float = 0.0
    resend_seconds: float = 0.0
    elapsed_seconds: float = 0.0
    store: StoreCheck | None = None
    violations: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_seconds if self.elapsed_seconds else 0.0

    @property
    def acked_per_s_before_kill(self) -> float:
        return self.acked_before_kill / self.phase1_seconds if self.phase1_seconds else 0.0

    def lines(self) -> list[str]:
        s = self.store
        out = [
            f"events sent (distinct)         {self.events:,}",
            f"senders                        {self.senders}",
            f"acked before SIGKILL           {self.acked_before_kill:,}"
            f" ({self.acked_per_s_before_kill:,.0f}/s over {self.phase1_seconds:.1f} s)",
            f"in flight at kill (no reply)   {self.in_flight_at_kill:,}"
            f" (already committed: {self.in_flight_committed:,})",
            f"no reply before kill           {dict(self.no_reply_before_kill) or 0}",
            f"non-2xx before kill            {self.rejected_before_kill:,}",
            f"not yet sent at kill           {self.unsent_at_kill:,}",
            f"resent after restart           {self.resent_after_restart:,}"
            f" in {self.resend_rounds} round(s), {self.resend_seconds:.1f} s",
            f"acked sample resent            {self.sample_resent:,}"
            f" (duplicate: true {self.sample_duplicate:,})",
            f"non-2xx replies (all phases)   {dict(self.non_2xx_replies) or 0}",
            f"no reply after restart         {dict(self.no_reply_after_restart) or 0}",
            f"restart to healthy             {self.restart_seconds:.1f} s",
            f"elapsed                        {self.elapsed_seconds:.1f} s"
            f" ({self.events_per_s:,.0f} events/s incl. kill and restart)",
        ]
        if s is not None:
            out += [
                f"rows in call_events            {s.total_rows:,}"
                f" (distinct keys {s.distinct_keys:,})",
                f"duplicates found               {s.duplicate_keys}",
                f"acked but missing              {s.missing_acked}",
                f"sent but missing / unexpected  {s.missing_any} / {s.unexpected}",
                f"payloads not as sent           {s.corrupted}",
                f"calls / stale calls            {s.calls:,} / {s.stale_calls}",
            ]
        out.append("violations: " + ("; ".join(self.violations) if self.violations else "none"))
        return out


def _stop(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except Exception:
            proc.kill()
            proc.wait()


def run(
    events: int = 100_000,
    senders: int = 64,
    kill_after: int | None = None,
    sample: int = 1_000,
    workdir: Path | None = None,
    synchronous: str = "full",
    seed: int = 1,
    max_resend_rounds: int = 5,
) -> Report:
    """The whole check; `report.violations` is empty when the service kept its promise."""
    kill_after = events // 2 if kill_after is None else kill_after
    if not 0 < kill_after < events:
        raise ValueError("kill_after must be between 0 and events")
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="callpath-durability-") as tmp:
            return run(
                events, senders, kill_after, sample, Path(tmp), synchronous, seed, max_resend_rounds
            )

    batch = build_events(events, seed=seed)
    if len({ev.key for ev in batch}) != events:  # pragma: no cover - generator bug
        raise RuntimeError("generated events are not distinct")
    db_path = seed_company(workdir, synchronous)
    env = service_env(workdir, synchronous)
    report = Report(events=events, senders=senders, kill_after=kill_after)
    rng = random.Random(seed + 1)

    started = time.monotonic()
    port = free_port()
    proc = start_service(env, port)
    sending = time.monotonic()
    try:
        # Phase 1: send until `kill_after` acks, then SIGKILL with requests in flight.
        def kill_when_due(acked: int) -> bool:
            if acked >= kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                return True
            return False

        first = send(f"http://127.0.0.1:{port}", batch, range(events), senders, kill_when_due)
        proc.wait(timeout=30)
        report.phase1_seconds = time.monotonic() - sending
        if proc.returncode != -signal.SIGKILL:
            report.violations.append(f"service exited {proc.returncode}, not by SIGKILL")
        acked = {i for i, o in first.items() if o.acked}
        no_reply = {i for i, o in first.items() if o.status is None}
        rejected = {i for i, o in first.items() if o.status is not None and not o.acked}
        unsent = set(range(events)) - first.keys()
        report.acked_before_kill = len(acked)
        report.in_flight_at_kill = sum(1 for i in no_reply if first[i].after_stop)
        report.no_reply_before_kill.update(
            first[i].error for i in no_reply if not first[i].after_stop
        )
        report.rejected_before_kill = len(rejected)
        report.unsent_at_kill = len(unsent)
        report.non_2xx_replies.update(o.status for o in first.values() if o.status and not o.acked)
        if any(first[i].duplicate for i in acked):
            report.violations.append("a first delivery before the kill came back duplicate: true")

        # Phase 2: restart on the same files; resend everything not acknowledged.
        restart = time.monotonic()
        port = free_port()
        proc = start_service(env, port)
        report.restart_seconds = time.monotonic() - restart
        base_url = f"http://127.0.0.1:{port}"
        todo = sorted(no_reply | rejected | unsent)
        report.resent_after_restart = len(todo)
        first_resend: dict[int, Outcome] = {}
        resending = time.monotonic()
        while todo and report.resend_rounds < max_resend_rounds:
            report.resend_rounds += 1
            outcomes = send(base_url, batch, todo, senders)
            for i, o in outcomes.items():
                first_resend.setdefault(i, o)
                if o.status and not o.acked:
                    report.non_2xx_replies[o.status] += 1
                elif o.status is None:
                    report.no_reply_after_restart[o.error] += 1
            acked |= {i for i, o in outcomes.items() if o.acked}
            todo = [i for i in todo if i not in acked]
            if todo:
                time.sleep(0.5)
        report.resend_seconds = time.monotonic() - resending
        if todo:
            report.violations.append(f"{len(todo)} events never acknowledged after restart")
        report.in_flight_committed = sum(
            1
            for i in no_reply
            if first[i].after_stop and first_resend.get(i) and first_resend[i].duplicate
        )
        if any(first_resend.get(i) and first_resend[i].duplicate for i in unsent):
            report.violations.append("an event never sent before came back duplicate: true")

        # Phase 3: acknowledged events sent again must be recognised as duplicates.
        before_kill = sorted(i for i, o in first.items() if o.acked)
        picked = rng.sample(before_kill, min(sample, len(before_kill)))
        again = send(base_url, batch, picked, senders)
        for o in again.values():
            if o.status is None:
                report.no_reply_after_restart[o.error] += 1
        report.sample_resent = len(picked)
        report.sample_duplicate = sum(1 for o in again.values() if o.acked and o.duplicate)
        if report.sample_duplicate != len(picked):
            bad = [again.get(i) for i in picked if not (again.get(i) and again[i].duplicate)]
            report.violations.append(
                f"{len(bad)} acknowledged events resent were not duplicate: true ({bad[:3]})"
            )
    finally:
        _stop(proc)
    report.elapsed_seconds = time.monotonic() - started

    report.store = s = check_store(db_path, COMPANY_ID, batch, acked)
    if s.missing_acked:
        report.violations.append(f"{s.missing_acked} acknowledged events missing from the store")
    if s.duplicate_keys:
        report.violations.append(f"{s.duplicate_keys} events stored more than once")
    if s.total_rows != events or s.distinct_keys != events:
        report.violations.append(
            f"call_events holds {s.total_rows} rows ({s.distinct_keys} distinct), sent {events}"
        )
    if s.missing_any or s.unexpected:
        report.violations.append(
            f"{s.missing_any} sent missing, {s.unexpected} not sent but stored"
        )
    if s.corrupted:
        report.violations.append(f"{s.corrupted} stored payloads differ from what was sent")
    if s.stale_calls:
        report.violations.append(f"{s.stale_calls} calls missing or not rebuilt from all events")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--senders", type=int, default=64)
    parser.add_argument("--kill-after", type=int, help="acks before SIGKILL (default: half)")
    parser.add_argument("--sample", type=int, default=1_000, help="acked events resent")
    parser.add_argument("--sqlite-synchronous", default="full", choices=["full", "normal"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(f"machine: {machine_notes()}; CALLPATH_SQLITE_SYNCHRONOUS={args.sqlite_synchronous}")
    report = run(
        events=args.events,
        senders=args.senders,
        kill_after=args.kill_after,
        sample=args.sample,
        synchronous=args.sqlite_synchronous,
        seed=args.seed,
    )
    print("\n".join(report.lines()))
    sys.exit(1 if report.violations else 0)


if __name__ == "__main__":
    main()
