"""Generate the labelled article pairs that measure story grouping (`pairs.jsonl`, beside this).

    python tests/data/stories/make_pairs.py          # rewrites pairs.jsonl (seeded: same output)

Each line is one pair: `{"id", "label", "kind", "a": {...}, "b": {...}}` with `label` 1 for two
copies of one story (the same wire text carried twice) and 0 for two different articles;
`a` and `b` have `title`, `text`, `published` (ISO, UTC) and `feed` (the URL of the feed that
carried it: copies and other outlets' articles come from two feeds, an outlet's own follow-ups
from one, its formulas and recurring reports from one or, syndicated, from two).
`hand_pairs.json` beside this holds hand-written hard cases in the same shape.

How the articles are made: a scenario (a deportation flight, a court ruling, an earthquake...)
draws its facts (places, numbers, names, a quote); an outlet renders them into a headline and
6-10 sentences, choosing for each fact one of several phrasings, an order and a background
paragraph. Then:

- copies (label 1): one rendering, transformed the way syndication and feeds transform wire
  copy: a dateline / agency prefix ("WASHINGTON (AP) —", "(Reuters) -"), appended boilerplate
  (copyright lines, "Reporting by ...", newsletter pleas, "The post ... appeared first on"),
  light edits (said/says, U.S./US, digits, a sentence cut), another headline, the story cut
  short by a newspaper, or the feed carrying only a summary (first sentence or two, or the
  first few hundred characters and an ellipsis) where the other carries the full text;
- different articles (label 0): the same event written by another outlet (other phrasings,
  sometimes the same quoted statement), a follow-up the next day, the same outlet's formula
  applied to another event (another flight, another quake: same sentence frames, other
  numbers and places), recurring reports (markets, weather) on consecutive days, articles on
  the same topic, and short summaries of any of these.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261201
BASE_TIME = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
FIRST = "Ana Luis Maria Jorge Carmen Daniel Sofia Miguel Laura Pedro Elena Tomas Julia Marco Ines"
LAST = "Ramirez Castillo Herrera Navarro Ortega Molina Rivas Fuentes Campos Salazar Vega Duarte"


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST.split())} {rng.choice(LAST.split())}"


def num(n: int) -> str:
    return f"{n:,}"


# --------------------------------------------------------------------------------------------
# Scenarios: facts, and the phrasings an outlet chooses from


@dataclass
class Scenario:
    name: str
    facts: Callable[[random.Random], dict[str, str]]
    titles: list[str]
    leads: list[str]
    details: list[list[str]]  # each: alternative sentences for one fact
    quotes: list[str]  # quoted statements; {speaker} and {title} of the speaker
    attributions: list[str] = field(
        default_factory=lambda: [
            "“{quote},” {speaker}, {role}, told reporters.",
            "“{quote},” said {speaker}, {role}.",
            "{speaker}, {role}, said in a statement: “{quote}.”",
            "“{quote},” {role} {speaker} said at a news conference.",
        ]
    )
    background: list[str] = field(default_factory=list)
    dateline: str = "{city}"


def deportation_facts(rng: random.Random) -> dict[str, str]:
    country, demonym, city = rng.choice(
        [
            ("Guatemala", "Guatemalan", "Guatemala City"),
            ("Honduras", "Honduran", "San Pedro Sula"),
            ("El Salvador", "Salvadoran", "San Salvador"),
            ("Venezuela", "Venezuelan", "Caracas"),
            ("Colombia", "Colombian", "Bogota"),
            ("Ecuador", "Ecuadorian", "Quito"),
        ]
    )
    return {
        "country": country,
        "demonym": demonym,
        "city": city,
        "n": num(rng.randint(60, 280)),
        "kids": str(rng.randint(4, 40)),
        "day": rng.choice(WEEKDAYS),
        "origin": rng.choice(["Alexandria, Louisiana", "Harlingen, Texas", "El Paso, Texas"]),
        "speaker": person(rng),
        "role": f"director of {country}'s migration institute",
        "year_total": num(rng.randint(9000, 41000)),
    }


DEPORTATION = Scenario(
    name="deportation",
    facts=deportation_facts,
    titles=[
        "{country} receives {n} deportees on flight from the US",
        "Deportation flight with {n} {demonym}s lands in {city}",
        "{n} migrants deported from US arrive in {country}",
        "US sends {n} {demonym} migrants home on chartered flight",
        "{country} says {n} citizens returned on latest US deportation flight",
    ],
    leads=[
        "A flight carrying {n} people deported from the United States landed in {city} on "
        "{day}, {country}'s migration authority said.",
        "{country} received {n} of its citizens deported by the United States on {day}, the "
        "latest in a string of removal flights this year.",
        "U.S. immigration authorities returned {n} {demonym} nationals to {city} on {day} "
        "aboard a chartered plane.",
        "Some {n} migrants expelled by the United States arrived in {city} on {day}, "
        "officials said, as Washington steps up removals to the region.",
    ],
    details=[
        [
            "Among them were {kids} children travelling with their parents.",
            "The group included {kids} minors, according to the migration institute.",
            "{kids} of the passengers were children, officials said.",
        ],
        [
            "The plane took off from {origin} early in the morning.",
            "The flight departed from {origin}, an immigration hub.",
            "It left from {origin}, where many detainees are processed before removal.",
        ],
        [
            "{country} has received {year_total} deportees so far this year.",
            "More than {year_total} {demonym}s have been sent back since January.",
            "The returns bring this year's total to {year_total}, government figures show.",
        ],
        [
            "Returnees were given a meal, a medical check and a bus ticket home.",
            "On arrival, the deportees were processed by police and health workers.",
            "Officials interviewed each returnee before letting them leave the airport.",
        ],
    ],
    quotes=[
        "We are receiving our compatriots with dignity",
        "These families need work and support, not stigma",
        "The pace of the flights has doubled since the spring",
    ],
    background=[
        "The Trump administration has made mass deportations a central promise, and flights "
        "to Central and South America have become routine.",
        "Rights groups have criticized the conditions on the flights, including the use of "
        "shackles on long journeys.",
        "Remittances sent home by migrants in the United States account for a large share of "
        "the region's economies.",
    ],
)


def ruling_facts(rng: random.Random) -> dict[str, str]:
    return {
        "judge": f"U.S. District Judge {person(rng)}",
        "judge_last": rng.choice(LAST.split()),
        "court": rng.choice(["Washington", "New York", "Texas", "Colorado", "Maryland"]),
        "law": rng.choice(
            ["the Alien Enemies Act", "a 1798 wartime law", "an emergency immigration order"]
        ),
        "n": str(rng.randint(3, 300)),
        "group": rng.choice(["Venezuelan men", "asylum seekers", "detained migrants"]),
        "day": rng.choice(WEEKDAYS),
        "city": rng.choice(["WASHINGTON", "NEW YORK", "DENVER", "BALTIMORE", "HOUSTON"]),
        "speaker": person(rng),
        "role": rng.choice(["a lawyer for the plaintiffs", "an ACLU attorney"]),
        "days": str(rng.randint(7, 30)),
    }


RULING = Scenario(
    name="ruling",
    facts=ruling_facts,
    titles=[
        "Judge blocks deportations under {law}",
        "Court halts removal of {n} {group} under {law}",
        "Federal judge rules against administration on {law}",
        "Judge orders pause in deportations of {group}",
    ],
    leads=[
        "A federal judge on {day} blocked the administration from deporting {n} {group} under "
        "{law}, ruling that they must first be given a chance to challenge their removal.",
        "{judge} in {court} temporarily halted the removal of {n} {group} on {day}, "
        "handing a setback to the White House's use of {law}.",
        "The administration cannot use {law} to expel {n} {group} for now, a judge in {court} "
        "ruled on {day}.",
        "In a ruling issued late on {day}, {judge} barred officials from removing {n} {group} "
        "under {law} while the case proceeds.",
    ],
    details=[
        [
            "The order lasts {days} days and applies to detainees held in the district.",
            "The temporary restraining order will remain in place for {days} days.",
            "The judge set a hearing in {days} days to decide whether to extend the order.",
        ],
        [
            "The Justice Department said it would appeal.",
            "Government lawyers signaled they would seek an emergency stay.",
            "The administration is expected to challenge the decision in a higher court.",
        ],
        [
            "Judge {judge_last} wrote that the notice given to the men was inadequate.",
            "In a 30-page opinion, {judge_last} said the detainees had been denied due process.",
            "{judge_last} found that the government had not shown the men were gang members.",
        ],
    ],
    quotes=[
        "This is a clear victory for the rule of law",
        "The government cannot simply disappear people without a hearing",
        "Our clients were never given a chance to be heard",
    ],
    background=[
        "The law, last used during World War II, allows the president to detain and deport "
        "citizens of an enemy nation without the usual hearings.",
        "Hundreds of men were sent to a maximum-security prison in El Salvador in March.",
    ],
)


def quake_facts(rng: random.Random) -> dict[str, str]:
    place, country, city = rng.choice(
        [
            ("the coast of Oaxaca", "Mexico", "MEXICO CITY"),
            ("central Chile", "Chile", "SANTIAGO"),
            ("southern Peru", "Peru", "LIMA"),
            ("the island of Sulawesi", "Indonesia", "JAKARTA"),
            ("eastern Turkey", "Turkey", "ANKARA"),
        ]
    )
    return {
        "place": place,
        "country": country,
        "city": city,
        "mag": f"{rng.randint(55, 78) / 10:.1f}",
        "depth": str(rng.randint(8, 90)),
        "dead": str(rng.randint(0, 40)),
        "hurt": str(rng.randint(5, 300)),
        "day": rng.choice(WEEKDAYS),
        "town": rng.choice(["San Marcos", "Pinotepa", "Arica", "Tacna", "Palu", "Malatya"]),
        "speaker": person(rng),
        "role": "head of the civil protection agency",
    }


QUAKE = Scenario(
    name="quake",
    facts=quake_facts,
    titles=[
        "Magnitude {mag} earthquake strikes {place}",
        "Strong quake shakes {country}, killing at least {dead}",
        "{mag} earthquake hits {place}; buildings damaged",
        "Earthquake of magnitude {mag} rattles {country}",
    ],
    leads=[
        "A magnitude {mag} earthquake struck {place} on {day}, killing at least {dead} people "
        "and injuring {hurt}, authorities said.",
        "A powerful earthquake shook {place} on {day}, with the U.S. Geological Survey putting "
        "its magnitude at {mag}.",
        "At least {dead} people died after a {mag}-magnitude quake rocked {place} on {day}, "
        "officials said.",
        "Buildings swayed across {country} on {day} when an earthquake of magnitude {mag} hit "
        "{place}.",
    ],
    details=[
        [
            "The quake was centred {depth} kilometres below the surface.",
            "Its epicentre was at a depth of {depth} km, the USGS said.",
            "The tremor struck at a depth of about {depth} kilometers.",
        ],
        [
            "In {town}, a church tower collapsed and several homes were left without power.",
            "The worst damage was reported in {town}, where a school roof caved in.",
            "Residents of {town} fled into the streets as walls cracked.",
        ],
        [
            "No tsunami warning was issued.",
            "Authorities ruled out a tsunami threat.",
            "The Pacific Tsunami Warning Center said there was no threat of a tsunami.",
        ],
        [
            "{hurt} people were treated in hospitals.",
            "Hospitals treated {hurt} injured people overnight.",
            "Emergency services said {hurt} people were hurt.",
        ],
    ],
    quotes=[
        "Rescue teams are working through the night",
        "We ask people to stay out of damaged buildings",
        "The aftershocks could continue for several days",
    ],
    background=[
        "The region sits on the Pacific Ring of Fire, where tectonic plates meet and "
        "earthquakes are frequent.",
        "A quake in the same area a decade ago killed hundreds of people.",
    ],
)


def prison_facts(rng: random.Random) -> dict[str, str]:
    return {
        "n": num(rng.randint(200, 3000)),
        "gang": rng.choice(["MS-13", "Barrio 18", "Tren de Aragua"]),
        "prison": rng.choice(["CECOT", "the Terrorism Confinement Center", "Izalco prison"]),
        "day": rng.choice(WEEKDAYS),
        "city": "SAN SALVADOR",
        "speaker": person(rng),
        "role": rng.choice(["El Salvador's security minister", "the prisons director"]),
        "total": num(rng.randint(60000, 85000)),
        "cells": str(rng.randint(20, 80)),
    }


PRISON = Scenario(
    name="prison",
    facts=prison_facts,
    titles=[
        "El Salvador moves {n} gang suspects to {prison}",
        "Bukele government transfers {n} inmates to mega-prison",
        "{n} alleged {gang} members sent to {prison}",
        "Salvadoran authorities relocate {n} prisoners amid crackdown",
    ],
    leads=[
        "El Salvador transferred {n} suspected members of {gang} to {prison} on {day}, the "
        "government said, releasing images of shaved, barefoot inmates.",
        "Salvadoran authorities moved {n} alleged gang members into {prison} in a pre-dawn "
        "operation on {day}.",
        "President Nayib Bukele's government said on {day} it had sent {n} more inmates "
        "accused of belonging to {gang} to {prison}.",
        "Another {n} prisoners were bussed to {prison} on {day} as El Salvador pressed on "
        "with its crackdown on gangs.",
    ],
    details=[
        [
            "The prison now holds inmates in {cells} cell blocks.",
            "Inmates are kept in {cells} blocks with no windows, officials said.",
            "The facility has {cells} cell blocks, each holding hundreds of men.",
        ],
        [
            "More than {total} people have been arrested under the state of exception.",
            "Since 2022 the emergency regime has led to over {total} arrests.",
            "The crackdown has jailed some {total} people, rights groups estimate.",
        ],
        [
            "Rights groups say thousands of those detained have no gang ties.",
            "Human rights organizations have documented deaths in custody.",
            "Critics say detainees are held without trial for months.",
        ],
    ],
    quotes=[
        "They will never again walk free in our country",
        "This is the end of the gangs",
        "We will continue until the last gang member is behind bars",
    ],
    background=[
        "The state of exception, first declared in March 2022, suspends some constitutional "
        "rights and has been extended dozens of times.",
        "Homicides in El Salvador have fallen sharply, and Bukele remains highly popular.",
    ],
)


def tariff_facts(rng: random.Random) -> dict[str, str]:
    country, product = rng.choice(
        [
            ("Mexico", "steel"),
            ("Canada", "aluminum"),
            ("Brazil", "coffee"),
            ("Colombia", "flowers"),
            ("China", "electric vehicles"),
        ]
    )
    return {
        "country": country,
        "product": product,
        "pct": str(rng.choice([10, 15, 20, 25, 30, 50])),
        "bn": str(rng.randint(2, 90)),
        "day": rng.choice(WEEKDAYS),
        "city": "WASHINGTON",
        "speaker": person(rng),
        "role": rng.choice(["the commerce secretary", "a White House trade adviser"]),
        "date": rng.choice(["March 1", "April 2", "May 15", "June 30"]),
    }


TARIFF = Scenario(
    name="tariff",
    facts=tariff_facts,
    titles=[
        "US imposes {pct}% tariff on {product} from {country}",
        "Trump slaps {pct} percent duty on {country}'s {product}",
        "New US tariffs hit {country} {product} exports",
        "{country} vows response after US tariff on {product}",
    ],
    leads=[
        "The United States will impose a {pct}% tariff on {product} imported from {country} "
        "starting {date}, the White House said on {day}.",
        "President Donald Trump on {day} ordered a {pct} percent duty on {country}'s "
        "{product}, widening a trade dispute with one of the country's biggest partners.",
        "{country}'s {product} exporters face a {pct}% U.S. tariff from {date} after the "
        "administration announced new duties on {day}.",
        "Washington announced on {day} that imports of {product} from {country} will be "
        "taxed at {pct}%, effective {date}.",
    ],
    details=[
        [
            "The United States imported about ${bn} billion of {product} from {country} last year.",
            "Trade in the affected goods was worth roughly ${bn} billion in 2025.",
            "The measure covers some ${bn} billion a year in shipments.",
        ],
        [
            "{country}'s government said it was studying retaliatory measures.",
            "Officials in {country} promised a proportionate response.",
            "{country} said it would take the case to the World Trade Organization.",
        ],
        [
            "Industry groups warned that prices for consumers would rise.",
            "Importers said the duties would be passed on to shoppers.",
            "Economists expect the tariff to push up costs for manufacturers.",
        ],
    ],
    quotes=[
        "We will not let unfair trade hollow out American industry",
        "This tariff protects American workers",
        "Our partners have had years to fix this",
    ],
    background=[
        "The administration has used tariffs as a bargaining tool on migration and drugs.",
        "Markets have swung on each new tariff announcement this year.",
    ],
)


def protest_facts(rng: random.Random) -> dict[str, str]:
    city, country = rng.choice(
        [
            ("Los Angeles", "California"),
            ("Chicago", "Illinois"),
            ("Tegucigalpa", "Honduras"),
            ("Bogota", "Colombia"),
            ("Madrid", "Spain"),
        ]
    )
    return {
        "city": city,
        "where": country,
        "crowd": num(rng.randint(2, 60) * 1000),
        "arrests": str(rng.randint(0, 80)),
        "cause": rng.choice(
            ["immigration raids", "a new pension law", "rising rents", "police violence"]
        ),
        "day": rng.choice(WEEKDAYS),
        "street": rng.choice(["Main Street", "the central square", "city hall"]),
        "speaker": person(rng),
        "role": "an organizer",
    }


PROTEST = Scenario(
    name="protest",
    facts=protest_facts,
    titles=[
        "Thousands march in {city} against {cause}",
        "Protesters fill streets of {city} over {cause}",
        "{city} police arrest {arrests} as protest over {cause} grows",
        "Demonstration against {cause} draws {crowd} in {city}",
    ],
    leads=[
        "Thousands of people marched through {city} on {day} to protest {cause}, in one of "
        "the largest demonstrations the city has seen this year.",
        "Police estimated that {crowd} people joined a protest against {cause} in {city} on {day}.",
        "Protesters angry about {cause} filled {street} in {city} on {day}, chanting and "
        "waving flags.",
        "A march against {cause} drew a crowd of about {crowd} in {city} on {day}, organizers "
        "said.",
    ],
    details=[
        [
            "Police said {arrests} people were arrested.",
            "{arrests} people were detained, according to the police.",
            "Authorities reported {arrests} arrests by nightfall.",
        ],
        [
            "The march ended peacefully at {street}.",
            "Riot police blocked the road near {street} in the evening.",
            "Some protesters stayed at {street} after dark.",
        ],
        [
            "Organizers said more protests were planned for next week.",
            "Unions called for a general strike if demands were not met.",
            "Opposition politicians joined the crowd.",
        ],
    ],
    quotes=[
        "We are not going away",
        "People are tired of being ignored",
        "This is only the beginning",
    ],
    background=[
        "Similar protests have taken place in several cities in recent weeks.",
        "Polls show the public is divided on the issue.",
    ],
)

SCENARIOS = [DEPORTATION, RULING, QUAKE, PRISON, TARIFF, PROTEST]


# Recurring reports: one outlet's formula, every day with other numbers (hard non-copies).
def market_facts(rng: random.Random) -> dict[str, str]:
    up = rng.random() < 0.5
    return {
        "dir": "rose" if up else "fell",
        "sign": "up" if up else "down",
        "sp": f"{rng.uniform(0.1, 2.5):.1f}",
        "splevel": f"{rng.randint(5400, 6900):,}",
        "dow": str(rng.randint(40, 900)),
        "nas": f"{rng.uniform(0.1, 3.0):.1f}",
        "driver": rng.choice(
            [
                "investors weighed new tariff threats",
                "bank earnings beat forecasts",
                "Treasury yields climbed",
                "oil prices jumped",
                "inflation data came in cooler than expected",
            ]
        ),
        "stock": rng.choice(["Nvidia", "Apple", "Tesla", "Boeing", "Walmart"]),
        "stockpct": f"{rng.uniform(1, 9):.1f}",
        "day": rng.choice(WEEKDAYS[:5]),
        "city": "NEW YORK",
    }


MARKETS = Scenario(
    name="markets",
    facts=market_facts,
    titles=[
        "Stock market today: Wall Street {dir} as {driver}",
        "Stocks {dir} on {day}; S&P 500 {sign} {sp}%",
    ],
    leads=[
        "Wall Street stocks {dir} on {day} as {driver}, with the S&P 500 {sign} {sp}% at "
        "{splevel} by the close.",
    ],
    details=[
        ["The Dow Jones Industrial Average was {sign} {dow} points, and the Nasdaq {sign} {nas}%."],
        ["{stock} shares moved {stockpct}% in heavy trading."],
        ["Trading volume was about average for the time of year."],
    ],
    quotes=[],
    background=["Stocks have been volatile this year as investors weigh trade policy."],
)


def weather_facts(rng: random.Random) -> dict[str, str]:
    return {
        "warn": rng.choice(["winter storm warning", "flood watch", "heat advisory", "wind alert"]),
        "county": rng.choice(["Cook", "Harris", "Maricopa", "King", "Dade", "Travis"]),
        "until": rng.choice(["6 p.m. Tuesday", "noon Wednesday", "9 a.m. Friday", "midnight"]),
        "amount": str(rng.randint(2, 14)),
        "unit": rng.choice(["inches of snow", "inches of rain", "degrees above normal"]),
        "gust": str(rng.randint(25, 70)),
        "day": rng.choice(WEEKDAYS),
        "city": "CHICAGO",
    }


WEATHER = Scenario(
    name="weather",
    facts=weather_facts,
    titles=["{warn} issued for {county} County until {until}", "Weather: {warn} for {county}"],
    leads=[
        "The National Weather Service has issued a {warn} for {county} County until {until}, "
        "with up to {amount} {unit} expected.",
    ],
    details=[
        ["Wind gusts could reach {gust} mph in open areas."],
        ["Drivers should allow extra time and check road conditions before leaving."],
        ["Forecasters said conditions would improve by the weekend."],
    ],
    quotes=[],
    background=["Sign up for our weather alerts to get warnings as soon as they are issued."],
)

RECURRING = [MARKETS, WEATHER]


# --------------------------------------------------------------------------------------------
# Rendering an article


@dataclass
class Article:
    title: str
    sentences: list[str]  # the body, sentence by sentence (first = lead)
    facts: dict[str, str]
    outlet: str

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


OUTLETS = [
    ("AP", "Associated Press"),
    ("Reuters", "Reuters"),
    ("AFP", "Agence France-Presse"),
    ("EFE", "EFE"),
    ("Bloomberg", "Bloomberg"),
]


@dataclass
class Style:
    """How one outlet writes a scenario: which phrasing of each fact, which background."""

    title: int
    lead: int
    details: list[int]
    attribution: int
    background: int
    order_seed: int
    dateline: bool
    outlet: tuple[str, str]


def pick_style(sc: Scenario, rng: random.Random, avoid: Style | None = None) -> Style:
    def choose(n: int, taken: int | None) -> int:
        options = [i for i in range(n) if i != taken] or list(range(n))
        return rng.choice(options)

    return Style(
        title=choose(len(sc.titles), avoid.title if avoid else None),
        lead=choose(len(sc.leads), avoid.lead if avoid else None),
        details=[
            choose(len(g), avoid.details[i] if avoid else None) for i, g in enumerate(sc.details)
        ],
        attribution=choose(len(sc.attributions), avoid.attribution if avoid else None),
        background=choose(max(len(sc.background), 1), avoid.background if avoid else None),
        order_seed=rng.randrange(1 << 30),
        dateline=rng.random() < 0.6,
        outlet=rng.choice([o for o in OUTLETS if not avoid or o != avoid.outlet]),
    )


def fill(template: str, facts: dict[str, str]) -> str:
    return template.format(**facts)


def render(sc: Scenario, facts: dict[str, str], style: Style, quote: int) -> Article:
    rng = random.Random(style.order_seed)
    lead = fill(sc.leads[style.lead], facts)
    lead = lead[0].upper() + lead[1:]
    body = [fill(g[i], facts) for g, i in zip(sc.details, style.details, strict=True)]
    rng.shuffle(body)
    if sc.quotes:
        q = sc.quotes[quote % len(sc.quotes)]
        said = sc.attributions[style.attribution].format(
            quote=q, speaker=facts["speaker"], role=facts["role"]
        )
        body.insert(rng.randint(0, min(2, len(body))), said)
    if sc.background:
        body.append(sc.background[style.background % len(sc.background)])
    if style.dateline:
        short, _ = style.outlet
        lead = f"{facts['city'].upper()} ({short}) — {lead}"
    return Article(fill(sc.titles[style.title], facts), [lead, *body], facts, style.outlet[1])


# --------------------------------------------------------------------------------------------
# What syndication and feeds do to a copy

PREFIXES = [
    "{CITY} (AP) — ",
    "(AP) -- ",
    "{CITY} (Reuters) - ",
    "{City}, {month} {d} (Reuters) - ",
    "By {person}, Associated Press ",
    "(CNN) — ",
    "{CITY} — ",
]
BOILERPLATE = [
    "Copyright 2026 The Associated Press. All rights reserved. This material may not be "
    "published, broadcast, rewritten or redistributed without permission.",
    "Reporting by {person}; Additional reporting by {person2}; Editing by {person3}",
    "Associated Press writer {person} in {City} contributed to this report.",
    "Sign up for our free morning newsletter and get the day's top stories in your inbox.",
    "The post {title} appeared first on {outlet}.",
    "This story has been updated with additional details.",
    "Read more: {title}",
    "Follow our live coverage for the latest developments. Click here to subscribe.",
    "© 2026 Agence France-Presse",
]
EDITS = [
    (r"\bsaid\b", "says"),
    (r"\bsays\b", "said"),
    (r"\bU\.S\.", "US"),
    (r"\bthe United States\b", "the U.S."),
    (r"\bpercent\b", "per cent"),
    (r"%", " percent"),
    (r"\bkilometres\b", "kilometers"),
    (r"\bon (Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b", r"\1"),
    (r"\bofficials\b", "authorities"),
    (r"\babout\b", "around"),
    (r"“|”", '"'),
    (r"\bpeople\b", "persons"),
]
LOCAL = [
    "The news was closely watched in our area, home to thousands of families with ties to the "
    "region.",
    "Local officials said they had not been informed in advance.",
    "Several residents of the county have relatives affected, community leaders said.",
    "It was not immediately clear how the decision would affect the state.",
]
OUTLET_SUFFIX = [" | Reuters", " - The Hill", " | AP News", " — El Faro", " - Breitbart"]


def prefix_for(art: Article, rng: random.Random) -> str:
    city = art.facts.get("city", "WASHINGTON")
    return rng.choice(PREFIXES).format(
        CITY=city.upper(),
        City=city.title(),
        month=rng.choice(["March", "Mar"]),
        d=rng.randint(1, 28),
        person=person(rng),
    )


def strip_dateline(s: str) -> str:
    return re.sub(r"^[A-Z][A-Z .,]+\([A-Za-z]+\) — ", "", s)


def boilerplate_for(art: Article, rng: random.Random) -> str:
    return rng.choice(BOILERPLATE).format(
        person=person(rng),
        person2=person(rng),
        person3=person(rng),
        City=art.facts.get("city", "Washington").title(),
        title=art.title,
        outlet=rng.choice(["El Faro", "Latin Times", "Border Report", "Daily Courier"]),
    )


def light_edit(sentences: list[str], rng: random.Random, n: int) -> list[str]:
    out = list(sentences)
    for _ in range(n):
        i = rng.randrange(len(out))
        pattern, repl = rng.choice(EDITS)
        out[i] = re.sub(pattern, repl, out[i], count=1)
    return out


def summary(sentences: list[str], rng: random.Random) -> str:
    """What a feed carries instead of the full text."""
    how = rng.choice(["one", "two", "chars", "chars", "more", "teaser"])
    if how == "teaser":  # a one-line teaser of a few words
        words = " ".join(sentences).split()
        return " ".join(words[: rng.randint(6, 16)]) + rng.choice(["…", "...", " …"])
    if how == "one":
        return sentences[0]
    if how == "two":
        return " ".join(sentences[:2])
    text = " ".join(sentences)
    cut = text[: rng.randint(180, 320)].rsplit(" ", 1)[0]
    end = rng.choice(["…", " […]", "...", " [...]"])
    if how == "more":
        return cut + end + rng.choice([" Read more »", " Continue reading", ""])
    return cut + end


def copy_of(art: Article, rng: random.Random) -> tuple[tuple[str, str], tuple[str, str], str]:
    """Two copies of `art` as two feeds would carry them, and the transformations applied."""
    body = [strip_dateline(art.sentences[0]), *art.sentences[1:]]
    a_sent, b_sent = list(art.sentences), list(body)
    a_title = b_title = art.title
    ops = rng.sample(
        ["prefix", "boilerplate", "edit", "headline", "summary", "trim", "suffix", "both-summary",
         "heavy-edit", "new-lead", "local", "reorder"],
        rng.choice([1, 2, 2, 3]),
    )  # fmt: skip
    if "both-summary" in ops and "summary" in ops:
        ops.remove("summary")
    if "new-lead" in ops:  # a summary of a rewritten lead shares no text with the original:
        ops = [op for op in ops if "summary" not in op]  # no text method could see the copy
    a_text = b_text = ""
    if "prefix" in ops:
        b_sent[0] = prefix_for(art, rng) + b_sent[0]
    if "edit" in ops:
        b_sent = light_edit(b_sent, rng, rng.randint(1, 3))
    if "heavy-edit" in ops:
        b_sent = light_edit(b_sent, rng, rng.randint(4, 7))
    if "new-lead" in ops:  # an update ("write-through") rewrites the first paragraph
        leads = [lead for lead in art.__dict__["_leads"] if lead != body[0]]
        if leads:
            lead = rng.choice(leads)
            b_sent[0] = lead[0].upper() + lead[1:]
    if "local" in ops:  # a regional paper adds its own angle near the top
        b_sent.insert(rng.randint(1, 2), rng.choice(LOCAL).format(**art.facts))
    if "reorder" in ops and len(b_sent) > 4:
        i = rng.randrange(1, len(b_sent) - 1)
        b_sent[i], b_sent[i + 1] = b_sent[i + 1], b_sent[i]
    if "trim" in ops and len(b_sent) > 4:
        b_sent = b_sent[: rng.randint(3, len(b_sent) - 1)]
    if "headline" in ops:
        others = [t for t in art.__dict__["_titles"] if t != art.title]
        b_title = rng.choice(others)
    if "suffix" in ops:
        b_title += rng.choice(OUTLET_SUFFIX)
    a_text, b_text = " ".join(a_sent), " ".join(b_sent)
    if "summary" in ops:
        b_text = summary(b_sent, rng)
    if "both-summary" in ops:
        a_text, b_text = summary(a_sent, rng), summary(b_sent, rng)
    if "boilerplate" in ops:
        b_text += " " + boilerplate_for(art, rng)
    if rng.random() < 0.5:  # which feed shows which copy
        return (b_title, b_text), (a_title, a_text), "+".join(sorted(ops))
    return (a_title, a_text), (b_title, b_text), "+".join(sorted(ops))


# --------------------------------------------------------------------------------------------
# The pairs


def make_article(sc: Scenario, facts: dict[str, str], style: Style, quote: int) -> Article:
    art = render(sc, facts, style, quote)
    art.__dict__["_titles"] = [fill(t, facts) for t in sc.titles]
    art.__dict__["_leads"] = [fill(t, facts) for t in sc.leads]
    return art


def maybe_short(art: Article, rng: random.Random, p: float) -> str:
    return summary(art.sentences, rng) if rng.random() < p else art.text


def stamp(hours: float) -> str:
    return (BASE_TIME + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


FEEDS = [f"https://{name}.example/rss" for name in (
    "wire-desk", "daily-courier", "latin-times", "border-report", "el-faro", "the-hill",
    "metro-herald", "valley-news", "capital-post", "coast-gazette",
)]  # fmt: skip


def pair(pid: str, label: int, kind: str, a: tuple[str, str], b: tuple[str, str], gap: float,
         rng: random.Random, same_feed: bool) -> dict[str, object]:  # fmt: skip
    """One labelled pair; `same_feed`: both from one feed (an outlet's own articles)."""
    t0 = rng.uniform(0, 24 * 20)
    fa, fb = rng.sample(FEEDS, 2)
    return {
        "id": pid,
        "label": label,
        "kind": kind,
        "a": {"title": a[0], "text": a[1], "published": stamp(t0), "feed": fa},
        "b": {"title": b[0], "text": b[1], "published": stamp(t0 + gap),
              "feed": fa if same_feed else fb},
    }  # fmt: skip


def generate(seed: int = SEED) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out: list[dict[str, object]] = []

    def add(label: int, kind: str, a: tuple[str, str], b: tuple[str, str], gap: float) -> None:
        # copies and other outlets' articles come from two feeds; an outlet's own follow-ups
        # from one; its formulas and recurring reports from one, or (syndicated) from two
        group = kind.split(":")[0]
        same_feed = group == "follow-up" or (
            group in ("formula", "recurring") and rng.random() < 0.5
        )
        out.append(pair(f"gen-{len(out) + 1:04d}", label, kind, a, b, gap, rng, same_feed))

    # copies
    for _ in range(300):
        sc = rng.choice(SCENARIOS + RECURRING[:1])
        facts = sc.facts(rng)
        art = make_article(sc, facts, pick_style(sc, rng), rng.randrange(9))
        a, b, ops = copy_of(art, rng)
        add(1, f"copy:{sc.name}:{ops}", a, b, rng.uniform(0, 30))

    # the same event written by another outlet (sometimes quoting the same statement)
    for _ in range(80):
        sc = rng.choice(SCENARIOS)
        facts = sc.facts(rng)
        s1 = pick_style(sc, rng)
        s2 = pick_style(sc, rng, avoid=s1)
        q = rng.randrange(9)
        same_quote = rng.random() < 0.5
        a1 = make_article(sc, facts, s1, q)
        a2 = make_article(sc, facts, s2, q if same_quote else q + 1)
        short = rng.choice([0.0, 0.5, 1.0])
        kind = f"same-event:{sc.name}" + (":same-quote" if same_quote else "")
        if short:
            kind += ":summary"
        add(0, kind, (a1.title, maybe_short(a1, rng, short)),
            (a2.title, maybe_short(a2, rng, short)), rng.uniform(0, 12))  # fmt: skip

    # a follow-up the next day by the same outlet: other phrasings of the same facts
    for _ in range(25):
        sc = rng.choice(SCENARIOS)
        facts = sc.facts(rng)
        s1 = pick_style(sc, rng)
        s2 = pick_style(sc, rng, avoid=s1)
        s2.outlet, s2.background = s1.outlet, s1.background  # same outlet, same background
        a1 = make_article(sc, facts, s1, 0)
        later = dict(facts, day=WEEKDAYS[(WEEKDAYS.index(facts["day"]) + 1) % 7])
        a2 = make_article(sc, later, s2, 1)
        a2.sentences.insert(
            1, f"It was the second day of coverage after the news broke on {facts['day']}."
        )
        add(
            0, f"follow-up:{sc.name}", (a1.title, a1.text), (a2.title, a2.text), rng.uniform(18, 40)
        )

    # one outlet's formula applied to another event of the same kind
    for _ in range(60):
        sc = rng.choice(SCENARIOS)
        style = pick_style(sc, rng)
        a1 = make_article(sc, sc.facts(rng), style, 0)
        a2 = make_article(sc, sc.facts(rng), style, rng.randrange(1, 3))
        short = rng.choice([0.0, 0.5, 1.0])
        add(0, f"formula:{sc.name}" + (":summary" if short else ""),
            (a1.title, maybe_short(a1, rng, short)),
            (a2.title, maybe_short(a2, rng, short)), rng.uniform(10, 60))  # fmt: skip

    # recurring reports on consecutive days
    for _ in range(40):
        sc = rng.choice(RECURRING)
        style = pick_style(sc, rng)
        a1 = make_article(sc, sc.facts(rng), style, 0)
        a2 = make_article(sc, sc.facts(rng), style, 0)
        short = rng.choice([0.0, 0.5])
        add(0, f"recurring:{sc.name}" + (":summary" if short else ""),
            (a1.title, maybe_short(a1, rng, short)),
            (a2.title, maybe_short(a2, rng, short)), 24.0)  # fmt: skip

    # different stories on the same topic (different scenarios), any length
    for _ in range(30):
        s1, s2 = rng.sample(SCENARIOS, 2)
        a1 = make_article(s1, s1.facts(rng), pick_style(s1, rng), 0)
        a2 = make_article(s2, s2.facts(rng), pick_style(s2, rng), 0)
        add(0, "unrelated", (a1.title, maybe_short(a1, rng, 0.5)),
            (a2.title, maybe_short(a2, rng, 0.5)), rng.uniform(0, 48))  # fmt: skip
    return out


def main() -> None:
    pairs = generate()
    path = HERE / "pairs.jsonl"
    with path.open("w") as fh:
        for p in pairs:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    pos = sum(p["label"] for p in pairs)  # type: ignore[misc]
    print(f"wrote {len(pairs)} pairs ({pos} copies, {len(pairs) - pos} different) to {path}")


if __name__ == "__main__":
    main()
