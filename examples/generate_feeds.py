"""Write the bundled sample feeds in examples/feeds/ (run once; the output is committed).

A week of ordinary market news from four made-up publishers about made-up companies, ending at
ANCHOR, plus a burst of clearly negative legal/regulatory news about one company (HLVP) in the
last two hours. `sentinel` shifts every timestamp at load time so that ANCHOR becomes "now"
(sentinel/samples.py), so the demo always sees a fresh week.

    python examples/generate_feeds.py
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

ANCHOR = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
OUT = Path(__file__).resolve().parent / "feeds"

COMPANIES = [
    ("Arden Robotics", "NASDAQ", "ARDN"),
    ("Bellweather Foods", "NYSE", "BWF"),
    ("Calder Energy", "NYSE", "CLDR"),
    ("Dunmore Bank", "NYSE", "DNMB"),
    ("Eastline Logistics", "NASDAQ", "ESTL"),
    ("Fairhaven Semiconductors", "NASDAQ", "FHVN"),
    ("Greystone Mining", "LSE", "GRYM"),
    ("Ironbridge Insurance", "NYSE", "IRBG"),
    ("Juniper Retail", "NYSE", "JNPR"),
    ("Kestrel Airlines", "NASDAQ", "KSTR"),
]

ORDINARY = [
    # (template, rough tone) — {co}, {ex}, {tk} filled from COMPANIES; {n} a number
    ("{co} ({ex}: {tk}) reports quarterly revenue of ${n}00 million, in line with estimates", "neutral"),
    ("{co} beats earnings expectations as margins widen; shares rise {n}%", "positive"),
    ("{co} raises full-year guidance on strong demand", "positive"),
    ("Analyst at Morrow & Co upgrades ${tk} to buy, sets $1{n}0 target", "positive"),
    ("${tk}: analysts keep hold rating ahead of investor day", "neutral"),
    ("{co} declares quarterly dividend of {n}0 cents per share", "neutral"),
    ("{co} to open {n} new distribution centres next year", "positive"),
    ("{co} names new chief financial officer", "neutral"),
    ("{co} completes acquisition of regional competitor", "neutral"),
    ("{co} shares edge higher in early trading", "neutral"),
    ("{co} misses revenue estimates, shares slip {n}%", "negative"),
    ("{co} cuts outlook citing weaker consumer spending", "negative"),
    ("{co} announces share buyback of up to ${n}00 million", "positive"),
    ("{co} prices ${n}00 million bond offering", "neutral"),
    ("{co} signs multi-year supply agreement", "positive"),
    ("{co} to present at industry conference next week", "neutral"),
    ("({ex}:{tk}) {co} launches new product line", "neutral"),
]

MARKET = [
    ("Fed officials signal patience on rates as inflation cools", "neutral"),
    ("Treasury yields steady ahead of jobs report", "neutral"),
    ("Stocks close higher as tech rally broadens", "positive"),
    ("Oil prices rise {n}% on supply concerns", "neutral"),
    ("Gold holds near record as dollar eases", "neutral"),
    ("Euro gains against the dollar after ECB remarks", "neutral"),
    ("US retail sales rise more than expected in October", "positive"),
    ("Manufacturing activity contracts for a third month", "negative"),
    ("Consumer confidence improves to six-month high", "positive"),
    ("Central bank holds rates, sees growth slowing next year", "neutral"),
    ("IPO market picks up as two listings price above range", "positive"),
    ("Crude inventories fall more than forecast", "neutral"),
    ("Copper climbs on stronger demand outlook", "positive"),
    ("Markets wrap: indexes mixed as investors weigh earnings", "neutral"),
]

BURST_COMPANY, BURST_TICKER = "Halvorsen Pharmaceuticals", "HLVP"
BURST = [
    "SEC sues Halvorsen Pharmaceuticals (NYSE: HLVP) over accounting fraud",
    "Justice Department opens criminal probe into Halvorsen Pharmaceuticals",
    "$HLVP: regulators accuse Halvorsen of misleading investors about drug trial data",
    "Halvorsen Pharmaceuticals auditor resigns, citing serious irregularities",
    "Investors file class-action lawsuit against Halvorsen Pharmaceuticals ($HLVP)",
    "Halvorsen Pharmaceuticals faces subpoena over alleged bribery of officials",
    "FDA warns Halvorsen Pharmaceuticals over falsified safety records",
    "European regulators launch investigation into Halvorsen Pharmaceuticals",
    "Halvorsen Pharmaceuticals ($HLVP) under investigation for price fixing",
    "Court freezes assets of Halvorsen Pharmaceuticals executives amid fraud charges",
    "Halvorsen Pharmaceuticals CEO charged with securities fraud",
    "Whistleblower lawsuit alleges Halvorsen Pharmaceuticals hid losses",
    "Halvorsen Pharmaceuticals fined $900 million for illegal marketing",
    "State attorneys general sue Halvorsen Pharmaceuticals over opioid sales",
    "Regulators halt trading in Halvorsen Pharmaceuticals shares pending fraud inquiry",
    "Halvorsen Pharmaceuticals ($HLVP) accused of violating sanctions, faces penalties",
    "Senate panel subpoenas Halvorsen Pharmaceuticals over pricing scandal",
    "Halvorsen Pharmaceuticals loses appeal, must pay $2 billion in damages",
]

PUBLISHERS = [
    # slug, title, format, site
    ("harbor-street-journal", "Harbor Street Journal - Markets", "rss", "https://harborstreet.example.com"),
    ("ledger-wire", "Ledger Wire: Companies", "atom", "https://ledgerwire.example.net"),
    ("northgate-markets", "Northgate Markets Daily", "rss", "https://northgate.example.org"),
    ("commodity-desk", "The Commodity Desk", "atom", "https://commoditydesk.example.com"),
]


def make_items(rng: random.Random, publisher: int) -> list[dict]:
    items = []
    for i in range(45):  # ~6-7 a day over a week
        age = timedelta(minutes=rng.randint(150, 7 * 24 * 60))
        if publisher == 3 or rng.random() < 0.3:
            template, _ = rng.choice(MARKET)
            co = ex = tk = ""
        else:
            template, _ = rng.choice(ORDINARY)
            co, ex, tk = rng.choice(COMPANIES)
        title = template.format(co=co, ex=ex, tk=tk, n=rng.randint(2, 9))
        items.append({"title": title, "when": ANCHOR - age, "n": i})
    # the burst: every publisher but the commodity desk carries part of it
    if publisher != 3:
        for j, title in enumerate(BURST[publisher::3]):
            items.append({"title": title, "when": ANCHOR - timedelta(minutes=rng.randint(1, 110)),
                          "n": 100 + j, "burst": True})
    items.sort(key=lambda item: item["when"], reverse=True)
    return items


def summary_for(item: dict) -> str:
    if item.get("burst"):
        return ("<p>The allegations add to mounting legal and regulatory pressure on the drugmaker. "
                "Shares fell sharply as investors weighed possible penalties.</p>")
    return f"<p>{escape(item['title'])}. Full story on our site.</p>"


def slugify(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:60]


def render_rss(pub: tuple, items: list[dict]) -> str:
    slug, title, _, site = pub
    rows = []
    for item in items:
        link = f"{site}/news/{item['when']:%Y/%m/%d}/{slugify(item['title'])}?utm_source=rss&utm_medium=feed"
        rows.append(
            "    <item>\n"
            f"      <title>{escape(item['title'])}</title>\n"
            f"      <link>{escape(link)}</link>\n"
            f"      <guid isPermaLink=\"false\">{slug}-{item['when']:%Y%m%d}-{item['n']}</guid>\n"
            f"      <pubDate>{format_datetime(item['when'])}</pubDate>\n"
            f"      <description>{escape(summary_for(item))}</description>\n"
            "    </item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0">\n  <channel>\n'
        f"    <title>{escape(title)}</title>\n    <link>{site}/</link>\n"
        f"    <description>Sample feed written for Sentinel's demo; all companies are fictional.</description>\n"
        f"    <language>en-us</language>\n    <lastBuildDate>{format_datetime(ANCHOR)}</lastBuildDate>\n"
        + "\n".join(rows) + "\n  </channel>\n</rss>\n"
    )


def render_atom(pub: tuple, items: list[dict]) -> str:
    slug, title, _, site = pub
    rows = []
    for item in items:
        stamp = item["when"].strftime("%Y-%m-%dT%H:%M:%SZ")
        link = f"{site}/articles/{slugify(item['title'])}#top"
        rows.append(
            "  <entry>\n"
            f"    <title type=\"text\">{escape(item['title'])}</title>\n"
            f"    <link rel=\"alternate\" href=\"{escape(link)}\"/>\n"
            f"    <id>tag:{site.split('//')[1]},2026:{slug}-{item['n']}</id>\n"
            f"    <published>{stamp}</published>\n    <updated>{stamp}</updated>\n"
            f"    <summary type=\"html\">{escape(summary_for(item))}</summary>\n"
            "  </entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"  <title>{escape(title)}</title>\n  <link href=\"{site}/\"/>\n"
        f"  <id>{site}/</id>\n  <updated>{ANCHOR:%Y-%m-%dT%H:%M:%SZ}</updated>\n"
        "  <subtitle>Sample feed written for Sentinel's demo; all companies are fictional.</subtitle>\n"
        + "\n".join(rows) + "\n</feed>\n"
    )


def main() -> None:
    rng = random.Random(20261129)
    OUT.mkdir(exist_ok=True)
    for index, pub in enumerate(PUBLISHERS):
        items = make_items(rng, index)
        text = render_rss(pub, items) if pub[2] == "rss" else render_atom(pub, items)
        (OUT / f"{pub[0]}.xml").write_text(text, encoding="utf-8")
    (OUT / "watchlist.yaml").write_text(render_watchlist(), encoding="utf-8")


def render_watchlist() -> str:
    """Company names -> tickers, so that stories naming a company without a cashtag count too."""
    names = [(name, ticker) for name, _, ticker in COMPANIES] + [(BURST_COMPANY, BURST_TICKER)]
    return ("# Company names -> tickers for the bundled sample feeds (fictional companies). Used\n"
            "# when SENTINEL_FEEDS_FILE and SENTINEL_WATCHLIST_FILE are unset, so that a story\n"
            "# naming Halvorsen Pharmaceuticals without a cashtag still counts for ticker HLVP.\n"
            "# Generated by examples/generate_feeds.py.\nwatchlist:\n"
            + "".join(f"  {name}: {ticker}\n" for name, ticker in names))


if __name__ == "__main__":
    main()
