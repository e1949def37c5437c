"""The demo world: a synthetic news world and its exact ground truth. Pure: no I/O.

`World.generate(now=...)` builds, from a seed, about forty invented outlets (RSS 2.0, Atom 1.0
and RSS 1.0 feeds with full content or short summaries, several date formats and time zones,
HTML entities, Spanish accents), a watchlist of fifteen invented people, organizations, topics
and places, and 90 days of articles with a daily and weekly rhythm, quiet weeks and bursts of
coverage (one of them a known spike in the last days: `World.spike`), plus articles scheduled
after `now` that keep arriving while a demo runs. Wire stories are carried by other outlets,
word for word or changed as syndication changes them (an agency tag in the dateline, another
headline, a sentence replaced, a credit appended; never a watched name), and every story opens
with a sentence of its own; one outlet has two section feeds that share items (same URL); some
items have no date; a few feeds misbehave on purpose (see `HEALTHS`).
Every name, outlet and sentence is invented by this module's word lists and templates.

Texts mention the watched entities *by construction*, so the generator knows how many mentions
each article has (`DemoArticle.mentions`), following the counting rules that `monitor.match`
implements (whole words, case- and accent-insensitive, acronyms only in capitals, possessives
and hyphenated forms count, the longest overlapping name counts once, `exclude` phrases do not
count). Filler prose never contains a watched name: `filler_clashes` checks every filler word
against the names when a world is generated. `World.truth` turns the per-article counts into
the per-entity, per-day table a correct poller must end up with.

What it leaves to others: serving the feeds over HTTP (`monitor.demo.server`), and of course
fetching, parsing, matching and storing (the code under test).
"""

from __future__ import annotations

import bisect
import random
import re
import time
import unicodedata
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.models import Entity

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FORMATS",
    "HEALTHS",
    "DemoArticle",
    "Outlet",
    "World",
    "describe",
    "filler_clashes",
]

FORMATS = ("rss", "atom", "rdf")
CONTENT_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "rdf": "application/rdf+xml",
}
# ok: serves its feed. flaky: answers 500 to every third request. slow: answers after ~2 s.
# moved: its listed URL answers 301 to a new path. gone: 410. html: an HTML page, not a feed.
HEALTHS = ("ok", "flaky", "slow", "moved", "gone", "html")
# Outlets whose articles reach a store (the others never deliver a feed).
DELIVERING = ("ok", "flaky", "slow", "moved")
# Article pages. ok: the whole article. robots: robots.txt refuses them to media-monitor.
# paywall: the first paragraph, then a box asking to subscribe.
PAGES = ("ok", "robots", "paywall")

# ---------------------------------------------------------------------------------------------
# The watchlist and how texts mention it
#
# Forms carry the number of mentions they make. "\x00" is a space in the text and a line break
# in the HTML (a name split over two lines still counts once).


@dataclass(frozen=True)
class _Spec:
    entity: Entity
    weight: float  # how often the entity is in the news
    forms_en: tuple[tuple[str, int], ...]  # noun forms in English body text
    forms_es: tuple[tuple[str, int], ...]  # noun forms in Spanish body text
    titles_en: tuple[str, ...]
    titles_es: tuple[str, ...]
    short: str = ""  # one word, for derived forms: X's, X-led, ex-X, #X, anti-X, X in capitals


_SPECS: tuple[_Spec, ...] = (
    _Spec(
        Entity("Talia Brenwick", "person", ("Brenwick",)),
        3.0,
        (("Talia Brenwick", 1), ("Brenwick", 1), ("Brenwick", 1), ("Talia\x00Brenwick", 1)),
        (("Talia Brenwick", 1), ("Brenwick", 1)),
        ("Talia Brenwick", "Brenwick"),
        ("Talia Brenwick", "Brenwick"),
        "Brenwick",
    ),
    _Spec(
        Entity("Ramon Olaizabal", "person", ("Olaizabal",)),
        2.5,
        (
            ("Ramón Olaizábal", 1),
            ("Olaizábal", 1),
            ("Olaizabal", 1),
            ("Ramon Olaizabal", 1),
            ("Ramón\x00Olaizábal", 1),
        ),
        (("Ramón Olaizábal", 1), ("Olaizábal", 1), ("Ramón\x00Olaizábal", 1)),
        ("Ramón Olaizábal", "Olaizábal", "Olaizabal"),
        ("Ramón Olaizábal", "Olaizábal"),
        "Olaizábal",
    ),
    _Spec(
        Entity("Kasimir Throndsen", "person", ("Throndsen",)),
        2.0,
        (("Kasimir Throndsen", 1), ("Throndsen", 1), ("Kasimir\x00Throndsen", 1)),
        (("Kasimir Throndsen", 1), ("Throndsen", 1)),
        ("Kasimir Throndsen", "Throndsen"),
        ("Kasimir Throndsen", "Throndsen"),
        "Throndsen",
    ),
    _Spec(
        Entity("Marisela Quintavo", "person", ("Quintavo",)),
        2.0,
        (("Marisela Quintavo", 1), ("Quintavo", 1)),
        (("Marisela Quintavo", 1), ("Quintavo", 1), ("Marisela\x00Quintavo", 1)),
        ("Marisela Quintavo", "Quintavo"),
        ("Marisela Quintavo", "Quintavo"),
        "Quintavo",
    ),
    _Spec(
        Entity("Hollis Dranemark", "person", ("Dranemark",)),
        1.2,
        (("Hollis Dranemark", 1), ("Dranemark", 1)),
        (("Hollis Dranemark", 1), ("Dranemark", 1)),
        ("Hollis Dranemark", "Dranemark"),
        ("Hollis Dranemark", "Dranemark"),
        "Dranemark",
    ),
    _Spec(  # an acronym: counts only in capitals
        Entity("NRTB", "organization", ("Northcoast Rail Transit Board",)),
        2.0,
        (
            ("the NRTB", 1),
            ("NRTB", 1),
            ("the Northcoast Rail Transit Board", 1),
            ("the Northcoast Rail Transit Board (NRTB)", 2),
        ),
        (("la NRTB", 1), ("la Northcoast Rail Transit Board (NRTB)", 2)),
        ("NRTB", "Northcoast Rail Transit Board"),
        ("NRTB",),
        "NRTB",
    ),
    _Spec(  # "Vellacourt Street" does not count for the bank
        Entity(
            "Vellacourt Bank",
            "organization",
            ("Vellacourt",),
            exclude=("Vellacourt Street",),
        ),
        2.0,
        (("Vellacourt Bank", 1), ("Vellacourt", 1), ("VELLACOURT BANK", 1)),
        (("Vellacourt Bank", 1), ("Vellacourt", 1)),
        ("Vellacourt Bank", "Vellacourt"),
        ("Vellacourt Bank", "Vellacourt"),
        "Vellacourt",
    ),
    _Spec(  # case-sensitive: "a kestrel" (the bird) does not count
        Entity("Kestrel Orbital", "organization", ("Kestrel",), case_sensitive=True),
        1.5,
        (("Kestrel Orbital", 1), ("Kestrel", 1)),
        (("Kestrel Orbital", 1), ("Kestrel", 1)),
        ("Kestrel Orbital", "Kestrel"),
        ("Kestrel Orbital", "Kestrel"),
        "Kestrel",
    ),
    _Spec(  # capitals in the watchlist, but any case counts
        Entity("AVELCO", "organization", ("Avelco Cooperative",), case_sensitive=False),
        1.5,
        (
            ("AVELCO", 1),
            ("Avelco", 1),
            ("the Avelco Cooperative", 1),
            ("the Avelco Cooperative (AVELCO)", 2),
        ),
        (("AVELCO", 1), ("Avelco", 1), ("la Avelco Cooperative", 1)),
        ("AVELCO", "Avelco", "Avelco Cooperative"),
        ("AVELCO", "Avelco"),
        "Avelco",
    ),
    _Spec(
        Entity("Tidewater Accord", "topic", ("Tidewater Pact", "Pacto Tidewater")),
        2.0,
        (("the Tidewater Accord", 1), ("the Tidewater Pact", 1), ("the Tidewater\x00Accord", 1)),
        (("el Pacto Tidewater", 1), ("el Tidewater Accord", 1)),
        ("Tidewater Accord", "Tidewater Pact"),
        ("el Pacto Tidewater",),
    ),
    _Spec(
        Entity("Grain Levy", "topic", ("grain levies", "tasa granaria")),
        1.5,
        (("the grain levy", 1), ("the Grain Levy", 1), ("the new grain levies", 1)),
        (("la tasa granaria", 1), ("la Tasa Granaria", 1)),
        ("Grain Levy",),
        ("la tasa granaria",),
    ),
    _Spec(
        Entity("Blue Corridor", "topic", ("Corredor Azul",)),
        1.2,
        (("the Blue Corridor", 1), ("the BLUE CORRIDOR", 1)),
        (("el Corredor Azul", 1), ("el Blue Corridor", 1)),
        ("Blue Corridor",),
        ("el Corredor Azul",),
    ),
    _Spec(
        Entity("Port Elvarra", "place", ("Elvarra",)),
        2.0,
        (("Port Elvarra", 1), ("Elvarra", 1), ("Port\x00Elvarra", 1)),
        (("Port Elvarra", 1), ("Elvarra", 1)),
        ("Port Elvarra", "Elvarra"),
        ("Port Elvarra", "Elvarra"),
        "Elvarra",
    ),
    _Spec(
        Entity("Karsvik", "place"),
        1.5,
        (("Karsvik", 1),),
        (("Karsvik", 1),),
        ("Karsvik",),
        ("Karsvik",),
        "Karsvik",
    ),
    _Spec(
        Entity("Santa Ilvera", "place", ("Ilvera",)),
        1.5,
        (("Santa Ilvera", 1), ("Ilvera", 1)),
        (("Santa Ilvera", 1), ("Ilvera", 1)),
        ("Santa Ilvera", "Ilvera"),
        ("Santa Ilvera", "Ilvera"),
        "Ilvera",
    ),
)

# Who a story's headline names (primary, second) and whether it is an opinion piece.
_Heads = tuple[_Spec | None, _Spec | None, bool]

# Sentence templates with one slot. X: a noun form; P: possessive; L: "X-led"; E: "ex-X";
# H: "#X"; U: the short name in capitals; A: "anti-X".
_MENTION_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("person", "en"): (
        "{X} said the proposal would be published in full next week.",
        "Speaking to reporters, {X} defended the timetable.",
        "Critics accuse {X} of moving too slowly on the issue.",
        "“We will not be rushed,” {X} said on Thursday.",
        "Aides to {X} described the meeting as constructive.",
        "{X} is expected to address the assembly later this month.",
        "In an interview, {X} said the numbers spoke for themselves.",
        "{P} office did not respond to a request for comment.",
        "{P} allies welcomed the decision.",
        "The {L} coalition still needs two more votes.",
        "An {E} adviser called the plan unrealistic.",
        "Supporters shared the news under the hashtag {H}.",
        "“{U} OUT,” read one banner outside the building.",
    ),
    ("person", "es"): (
        "{X} afirmó que la propuesta se publicará completa la próxima semana.",
        "Ante la prensa, {X} defendió el calendario.",
        "Los críticos acusan a {X} de actuar con demasiada lentitud.",
        "“No vamos a precipitarnos”, dijo {X} el jueves.",
        "Colaboradores de {X} calificaron la reunión de constructiva.",
        "Grupos {A} convocaron una marcha para el sábado.",
        "Sus seguidores compartieron la noticia con la etiqueta {H}.",
    ),
    ("organization", "en"): (
        "{X} said in a filing that revenue fell in the quarter.",
        "A spokesperson for {X} confirmed the figures.",
        "{X} has hired outside advisers to review the contract.",
        "Documents seen by this newspaper show {X} was warned about the costs.",
        "{X} declined to say how many jobs were affected.",
        "{P} chief executive is due to testify next month.",
        "{P} annual report is due in the spring.",
        "A {L} consortium submitted the only bid.",
        "Customers complained online under {H}.",
    ),
    ("organization", "es"): (
        "Un portavoz de {X} confirmó las cifras.",
        "{X} contrató asesores externos para revisar el contrato.",
        "{X} no precisó cuántos empleos se verán afectados.",
        "Según documentos consultados por este diario, {X} conocía los costos.",
        "Los clientes se quejaron en redes con la etiqueta {H}.",
    ),
    ("topic", "en"): (
        "Negotiations over {X} resumed on Wednesday.",
        "Supporters of {X} say it will protect jobs.",
        "{X} has divided the governing coalition.",
        "Opponents want {X} put to a public vote.",
        "Few details of {X} have been made public.",
        "{P} first phase is due to begin in the autumn.",
    ),
    ("topic", "es"): (
        "Las negociaciones sobre {X} se reanudaron el miércoles.",
        "Los defensores de {X} aseguran que protegerá el empleo.",
        "{X} divide a la coalición de gobierno.",
        "La oposición quiere someter {X} a una consulta popular.",
    ),
    ("place", "en"): (
        "Heavy rain caused flooding in parts of {X} overnight.",
        "Residents of {X} queued for hours to vote.",
        "In {X}, shops closed early as the storm approached.",
        "The ferry service to {X} was suspended until further notice.",
        "Officials in {X} said schools would reopen on Monday.",
        "{P} harbour was closed to shipping for two days.",
        "Photos from the scene spread quickly under {H}.",
    ),
    ("place", "es"): (
        "Las lluvias provocaron inundaciones en parte de {X}.",
        "Los vecinos de {X} hicieron largas filas para votar.",
        "En {X}, los comercios cerraron temprano por la tormenta.",
        "Las autoridades de {X} dijeron que las escuelas reabrirán el lunes.",
    ),
}
# Sentences about one entity that also carry a phrase that must not count (see _Spec comments).
_EXTRA_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Vellacourt Bank", "en"): (
        "Staff at {X} were evacuated from its offices on Vellacourt Street.",
        "{X} has had its headquarters on Vellacourt Street since the 1920s.",
    ),
    ("Vellacourt Bank", "es"): ("{X} tiene su sede en Vellacourt Street desde hace décadas.",),
}

_TITLE_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("person", "en"): (
        "{T} defends timetable as criticism mounts",
        "{T} signals shift on spending",
        "Q&A: {T} on the months ahead",
        "Who is {T}?",
        "{T} under pressure after vote",
        "{TP} allies push for early vote",
    ),
    ("person", "es"): (
        "{T} defiende el calendario ante las críticas",
        "{T} anuncia un giro en el gasto",
        "¿Quién es {T}?",
        "{T}, bajo presión tras la votación",
    ),
    ("organization", "en"): (
        "{T} posts quarterly loss",
        "{T} faces inquiry over contract",
        "{T} to cut costs as demand slows",
        "Inside {TP} troubled year",
    ),
    ("organization", "es"): (
        "{T} registra pérdidas en el trimestre",
        "Investigan a {T} por un contrato",
        "{T} recortará gastos ante la caída de la demanda",
    ),
    ("topic", "en"): (
        "{T} talks stall again",
        "What the {T} means for households",
        "Explainer: the {T} in five questions",
        "Vote on {T} delayed",
    ),
    ("topic", "es"): (
        "{T}: las claves",
        "Qué significa {T} para los hogares",
        "Nuevo retraso en la votación sobre {T}",
    ),
    ("place", "en"): (
        "Storm cuts power across {T}",
        "{T} braces for busy holiday weekend",
        "Water restrictions extended in {T}",
        "Fire crews battle blaze near {T}",
    ),
    ("place", "es"): (
        "Una tormenta deja sin luz a {T}",
        "{T} se prepara para un fin de semana largo",
        "Amplían las restricciones de agua en {T}",
    ),
}
_PAIR_TITLES = {
    "en": (
        "{T} and {T2} trade barbs over budget",
        "{T} meets {T2} as pressure builds",
        "{T} & {T2}: what we know",
    ),
    "es": ("{T} y {T2} chocan por el presupuesto", "{T} y {T2}, frente a frente"),
}

# Sentences with near misses that must count for no one: a name glued to letters or digits, an
# acronym in lower case, a case-sensitive name in the wrong case, an `exclude` phrase.
_DECOYS = {
    "en": (
        "The Brenwickshire ferry resumed service on Sunday.",
        "A parody account, @TaliaBrenwick2024, was suspended on Tuesday.",
        "Timetables are posted at nrtb.example.org.",
        "Traffic on Vellacourt Street was diverted for the parade.",
        "A kestrel hovered over the stadium during the match.",
        "Fans of the Karsvikers hockey team celebrated late into the night.",
        "The Quintavos, a folk band, played two encores.",
    ),
    "es": (
        "El ferry de Brenwickshire volvió a operar el domingo.",
        "Los horarios están publicados en nrtb.example.org.",
        "El tráfico en Vellacourt Street fue desviado por el desfile.",
        "Un kestrel, ave rapaz, sobrevoló el estadio.",
    ),
}

# ---------------------------------------------------------------------------------------------
# Filler: word lists and templates. None of their words may be part of a watched name.

_EN_SUBJECTS = (
    "City officials",
    "The regional government",
    "Local residents",
    "Analysts",
    "Opposition lawmakers",
    "Union representatives",
    "The finance ministry",
    "Several business owners",
    "Health authorities",
    "The mayor’s office",
    "Environmental groups",
    "Farmers in the north",
    "Commuters",
    "Economists",
    "The electoral commission",
    "Teachers’ unions",
    "Hospital managers",
    "Shipping companies",
    "Tourism operators",
    "Students",
)
_EN_VERBS = (
    "said",
    "warned",
    "argued",
    "noted",
    "reported",
    "insisted",
    "acknowledged",
    "suggested",
    "confirmed",
    "estimated",
)
_EN_CLAUSES = (
    "that costs had risen sharply over the past year",
    "that the new rules would take effect in the spring",
    "that talks would resume after the holiday",
    "that water levels remained below average",
    "that the budget gap was wider than expected",
    "that more inspections were planned",
    "that turnout could be lower than in previous years",
    "that repairs would take several weeks",
    "that the proposal lacked detail",
    "that demand had recovered faster than forecast",
    "that prices for fuel and food remained volatile",
    "that hiring had slowed in recent months",
    "that the schedule was too ambitious",
    "that waiting lists had grown since January",
    "that the funding would not cover maintenance",
    "that a compromise was still possible",
    "that rents had doubled in a decade",
    "that the harvest was smaller than last year",
)
_EN_TIMES = (
    "",
    "",
    " on Monday",
    " on Tuesday",
    " this week",
    " last month",
    " in a briefing",
    " in an interview",
    " late on Friday",
    " earlier this year",
)
_EN_STANDALONE = (
    "The figures have not been independently verified.",
    "The debate is expected to continue into next year.",
    "Further hearings are scheduled for the coming weeks.",
    "Traffic was disrupted for several hours.",
    "Forecasters expect milder conditions by the weekend.",
    "The proposal still needs approval from the full assembly.",
    "A final decision is not expected before the summer.",
    "Similar measures were tried a decade ago with mixed results.",
    "Local businesses say they have yet to see any benefit.",
    "The original report was updated with new figures on Friday.",
    "Spending on research & development rose for a third year.",
    "“It is too early to say,” one official said.",
    "Nobody was injured, according to emergency services.",
    "The measure passed by a narrow margin.",
)
_ES_SUBJECTS = (
    "Las autoridades locales",
    "Portavoces del gobierno regional",
    "Los vecinos",
    "Varios analistas",
    "Los sindicatos",
    "Fuentes del ministerio de Hacienda",
    "Los comerciantes",
    "Las organizaciones ambientales",
    "Los agricultores del norte",
    "Miembros de la comisión electoral",
    "Los economistas",
    "Los docentes",
    "Los médicos del hospital",
    "Las navieras",
)
_ES_VERBS = (
    "afirmaron",
    "advirtieron",
    "señalaron",
    "explicaron",
    "reconocieron",
    "insistieron",
    "estimaron",
    "confirmaron",
)
_ES_CLAUSES = (
    "que los costos aumentaron con fuerza durante el último año",
    "que las nuevas normas entrarán en vigor en primavera",
    "que las negociaciones se reanudarán después del feriado",
    "que el nivel del agua sigue por debajo del promedio",
    "que el déficit es mayor de lo previsto",
    "que habrá más inspecciones",
    "que la participación podría ser menor que en años anteriores",
    "que las reparaciones tardarán varias semanas",
    "que la propuesta carece de detalles",
    "que la demanda se recuperó más rápido de lo esperado",
    "que los precios de la energía y los alimentos siguen volátiles",
    "que la cosecha fue menor que la del año pasado",
    "que los alquileres se duplicaron en una década",
    "que aún es posible un acuerdo",
)
_ES_TIMES = (
    "",
    "",
    " el lunes",
    " el martes",
    " esta semana",
    " el mes pasado",
    " en una rueda de prensa",
    " en una entrevista",
)
_ES_STANDALONE = (
    "Las cifras no han sido verificadas de forma independiente.",
    "Se espera que el debate continúe el próximo año.",
    "Las audiencias seguirán en las próximas semanas.",
    "El tráfico estuvo interrumpido durante varias horas.",
    "Los meteorólogos prevén un tiempo más suave para el fin de semana.",
    "La propuesta aún necesita la aprobación del pleno.",
    "No se espera una decisión final antes del verano.",
    "Los comercios locales dicen que todavía no ven ningún beneficio.",
    "«Es demasiado pronto para decirlo», dijo un funcionario.",
    "¿Quién pagará las obras? Nadie lo ha aclarado todavía.",
    "No hubo heridos, según los servicios de emergencia.",
)
_Words = tuple[str, ...]
_PROSE: dict[str, tuple[_Words, _Words, _Words, _Words, _Words]] = {
    "en": (_EN_SUBJECTS, _EN_VERBS, _EN_CLAUSES, _EN_TIMES, _EN_STANDALONE),
    "es": (_ES_SUBJECTS, _ES_VERBS, _ES_CLAUSES, _ES_TIMES, _ES_STANDALONE),
}
_TITLE_FILLER = {
    "en": (
        (
            "City council",
            "Hospital trust",
            "Museum",
            "Ferry operator",
            "School district",
            "Farmers’ union",
            "Shipping firm",
            "Tourism office",
            "Water utility",
            "Police chief",
            "Library",
            "University",
            "Fire service",
            "Airport",
            "Festival",
        ),
        (
            "approves new timetable",
            "warns of delays",
            "reports record demand",
            "delays decision on budget",
            "reopens after renovation",
            "seeks more funding",
            "announces job cuts",
            "faces questions over costs",
            "launches public consultation",
            "marks centenary",
        ),
    ),
    "es": (
        (
            "El ayuntamiento",
            "El hospital",
            "El museo",
            "La naviera",
            "La asociación agrícola",
            "La oficina de turismo",
            "La policía",
            "La universidad",
            "El aeropuerto",
            "El cuerpo de bomberos",
        ),
        (
            "aprueba un nuevo horario",
            "advierte de retrasos",
            "registra una demanda récord",
            "aplaza la decisión sobre el presupuesto",
            "reabre tras la renovación",
            "pide más fondos",
            "anuncia recortes de empleo",
            "lanza una consulta pública",
        ),
    ),
}
_OPINION_PREFIX = {"en": "Opinion: ", "es": "Opinión: "}
_DATELINE_CITIES = (
    "VALMORRA",
    "QUESSARY",
    "OSTRELLE",
    "DUNMARROW",
    "BEXHAVEN",
    "HALVARDINE",
    "COSTALINDA",
    "SIERRAVALLE",
)
# A story's first sentence is its own (a lede is specific: what changed, by how much, since
# when), so that no story's one-sentence summary is another story's text: built of these
# parts and numbers, every five words of it hold a choice of its own (see _Generator._lede).
_LEDE_PARTS = {
    "en": (
        (
            "costs",
            "rents",
            "waiting lists",
            "water bills",
            "fuel prices",
            "ticket sales",
            "hiring",
            "school rolls",
            "house prices",
            "ferry bookings",
            "hospital admissions",
            "wages",
            "tourist numbers",
            "energy bills",
            "shop closures",
            "insurance claims",
            "court backlogs",
            "tax receipts",
        ),
        (
            "had risen by {n} percent",
            "had fallen by {n} percent",
            "had grown by {n} percent",
            "had dropped by {n} percent",
            "had climbed by {n} percent",
        ),
        (
            "since {month}",
            "over the past {k} months",
            "in {k} of the region’s districts",
            "compared with last year",
            "across {k} towns",
        ),
        (
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
    ),
    "es": (
        (
            "los alquileres",
            "los costos",
            "las listas de espera",
            "los precios del combustible",
            "las ventas de billetes",
            "las contrataciones",
            "las matrículas escolares",
            "los precios de la vivienda",
            "las reservas de ferry",
            "los ingresos hospitalarios",
            "los salarios",
            "las visitas de turistas",
            "las facturas de la luz",
            "los cierres de comercios",
            "los ingresos fiscales",
        ),
        (
            "subieron un {n} %",
            "bajaron un {n} %",
            "crecieron un {n} %",
            "cayeron un {n} %",
            "aumentaron un {n} %",
        ),
        (
            "desde {month}",
            "en los últimos {k} meses",
            "en {k} distritos de la región",
            "respecto al año pasado",
            "en {k} municipios",
        ),
        (
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ),
    ),
}
# What outlets that carry a wire story append to it (see _Generator.copy).
_CREDITS = {
    "en": (
        "Copyright {year} {wire}. All rights reserved.",
        "© {year} {wire}. All rights reserved.",
        "This article was originally published by {wire}.",
        "Reporting by {staff}; editing by {staff}.",
    ),
    "es": (
        "Copyright {year} {wire}. Todos los derechos reservados.",
        "© {year} {wire}. Todos los derechos reservados.",
    ),
}
_FIRST_NAMES = (
    "Mira",
    "Jonah",
    "Lucía",
    "Tomas",
    "Ines",
    "Priya",
    "Oren",
    "Saskia",
    "Dario",
    "Elif",
    "Nadia",
    "Teodor",
    "Yara",
    "Bram",
    "Celia",
    "Ansel",
)
_LAST_NAMES = (
    "Pellworth",
    "Castellane",
    "Vintross",
    "Quenby",
    "Amberlin",
    "Dusanne",
    "Merriot",
    "Okonde",
    "Salvaterra",
    "Ibarlucea",
    "Thorvalsen",
    "Kendrow",
    "Lisandre",
    "Morvay",
    "Ternholm",
)

# (name, languages, tags). Index positions matter: see _HEALTH_AT, _PAGES_AT and _SECTIONS_AT.
_OUTLETS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Orvane Newswire", "en", ("wire", "international")),
    ("Meridiem Press Service", "en", ("wire", "international")),
    ("Agencia Lusterra", "es", ("wire", "international")),
    ("The Quessary Ledger", "en", ("regional",)),
    ("Bexhaven Courier", "en", ("local",)),
    ("The Ostrelle Observer", "en", ("international",)),
    ("Tallowmere Gazette", "en", ("regional",)),
    ("Dunmarrow Evening Post", "en", ("local",)),
    ("El Heraldo de Valmorra", "es", ("regional",)),
    ("Carrowdale Dispatch", "en", ("regional",)),
    ("The Fennimere Herald", "en", ("local",)),
    ("Aldwyck Chronicle", "en", ("local",)),
    ("Harlsby Sentinel", "en", ("regional",)),
    ("Diario Ostreno", "es", ("international",)),
    ("The Civic Lantern", "en", ("opinion",)),
    ("Skellern Bay News", "en", ("local",)),
    ("Wexmoor Tribune", "en", ("regional",)),
    ("La Voz de Quessary", "es", ("local",)),
    ("Glenvarrow Examiner", "en", ("regional",)),
    ("Thistlecombe Journal", "en", ("local",)),
    ("Upper Vantry Bulletin", "en+es", ("local",)),
    ("Stannerow Mercury", "en", ("regional",)),
    ("Second Thoughts Review", "en", ("opinion",)),
    ("Brackenholt Advertiser", "en", ("local",)),
    ("El Faro de Costalinda", "es", ("regional",)),
    ("Marlstone Current", "en", ("international",)),
    ("Eastmere Standard", "en", ("regional",)),
    ("Semanario Rivalta", "es", ("opinion",)),
    ("Pellingford Weekly", "en", ("local",)),
    ("Ombrel Signal", "en+es", ("international",)),
    ("Crónica de Sierravalle", "es", ("regional",)),
    ("Halvardine Times", "en", ("international",)),
    ("Farsight Commentary", "en", ("opinion",)),
    ("Wrenfold Gazette", "en", ("local",)),
    ("Noticiero Orilla Sur", "es", ("local",)),
    ("Kelderwick Record", "en", ("regional",)),
    ("The Morrowvale Monitor", "en+es", ("regional",)),
    ("Tessaly Daily", "en", ("local",)),
    ("Quillon Herald", "en", ("regional",)),
    ("Varnholt Post", "en", ("local",)),
)
_EXTRA_TOWNS = (
    "Quessary",
    "Bexhaven",
    "Tallowmere",
    "Dunmarrow",
    "Carrowdale",
    "Fennimere",
    "Aldwyck",
    "Harlsby",
    "Skellern",
    "Wexmoor",
    "Glenvarrow",
    "Thistlecombe",
    "Stannerow",
    "Brackenholt",
    "Marlstone",
    "Eastmere",
    "Pellingford",
    "Wrenfold",
    "Kelderwick",
    "Morrowvale",
    "Tessaly",
    "Quillon",
    "Varnholt",
    "Ombrel",
    "Ostrelle",
    "Valmorra",
    "Halvardine",
    "Costalinda",
    "Sierravalle",
    "Rivalta",
)
_EXTRA_PAPERS = (
    "Courier",
    "Gazette",
    "Herald",
    "Dispatch",
    "Sentinel",
    "Tribune",
    "Examiner",
    "Journal",
    "Bulletin",
    "Mercury",
    "Advertiser",
    "Record",
    "Monitor",
    "Daily",
    "Post",
    "Ledger",
    "Chronicle",
    "Observer",
    "Signal",
    "Current",
)
_EXTRA_TAGS = (("local",), ("regional",), ("local",), ("international",), ("opinion",))
_SECTION_NAMES = ("world", "americas", "news", "opinion")

_SECTIONS_AT = 5  # the outlet with two section feeds ("world" and "americas")
_HEALTH_AT = {6: "flaky", 7: "slow", 9: "moved", 10: "gone", 11: "html"}
_PAGES_AT = {4: "robots", 13: "paywall"}  # two outlets whose feeds carry summaries
_FORMAT_CYCLE = ("rss", "atom", "rss", "rdf", "atom")
_DATE_STYLES = {  # label -> offset from UTC in seconds
    "rss": (("+0000", 0), ("-0600", -6 * 3600), ("GMT", 0), ("+0100", 3600), ("EST", -5 * 3600)),
    "atom": (("Z", 0), ("+02:00", 2 * 3600), ("-05:00", -5 * 3600), ("+05:30", 19800)),
    "rdf": (("Z", 0), ("+01:00", 3600), ("-03:00", -3 * 3600)),
}
_KIND_WEIGHT = {"wire": 2.0, "international": 1.2, "regional": 1.0, "local": 0.7, "opinion": 0.35}

# Daily rhythm (UTC hour) and weekly rhythm (Monday first).
_HOUR_PROFILE = (
    0.30,
    0.25,
    0.20,
    0.20,
    0.25,
    0.40,
    0.70,
    1.00,
    1.30,
    1.50,
    1.60,
    1.60,
    1.50,
    1.50,
    1.50,
    1.40,
    1.30,
    1.20,
    1.00,
    0.90,
    0.80,
    0.60,
    0.50,
    0.40,
)
_WEEKDAY_PROFILE = (1.0, 1.05, 1.05, 1.0, 0.95, 0.55, 0.5)

_P_ENTITY = 0.72  # share of stories about at least one watched entity
_P_SYNDICATED = 0.6  # share of wire stories picked up by other outlets
_MAX_PICKUPS = 4  # a syndicated story runs in 2 to 5 outlets
_P_DECOY = 0.08
# The known spike: a burst of coverage of one entity that starts this many days before `now`
# (in worlds of at least SPIKE_MIN_DAYS days: two weeks of baseline before it), for the
# demo's alert rule to fire on (see World.spike).
SPIKE_DAYS_AGO = 2
SPIKE_MIN_DAYS = 17
_SPIKE_BOOST = 100  # its entity's weight on its first day (a burst: 30), then decaying
# What an outlet does to a wire story it carries (each copy draws its own; a copy may keep the
# story word for word): the agency's tag in the dateline instead of its name, a headline of
# its own, one sentence replaced by another, a copyright line or credit appended.
_P_COPY_TAG = 0.5
_P_COPY_TITLE = 0.4
_P_COPY_EDIT = 0.4
_P_COPY_CREDIT = 0.5
_POOL_SIZE = 2500  # filler sentences per language

# ---------------------------------------------------------------------------------------------
# Public types


@dataclass(frozen=True)
class Outlet:
    """One invented news outlet and its feed(s)."""

    name: str
    slug: str
    fmt: str  # "rss" | "atom" | "rdf"
    tags: tuple[str, ...]
    languages: tuple[str, ...]  # ("en",), ("es",) or ("en", "es")
    full_content: bool  # the feed carries the whole article, not a summary
    health: str  # one of HEALTHS
    feeds: tuple[str, ...]  # feed paths as listed in feeds.yaml
    sections: tuple[str, ...]  # section of each feed ("news", or "world" and "americas")
    moved_to: str | None = None  # the new path of a moved feed
    homepage: str = ""
    date_style: str = ""  # how dates are written: "+0000", "GMT", "EST", "Z", "+02:00", ...
    utc_offset: int = 0  # seconds, of the dates written
    undated_share: float = 0.0  # share of items published with no date
    html_entities: bool = False  # writes é as &eacute; and ’ as &#8217; in its HTML
    cdata: bool = False  # RSS content:encoded in a CDATA section rather than escaped
    guid_is_link: bool = False
    link_suffix: str = ""  # e.g. tracking parameters appended to every link
    weight: float = 1.0  # relative number of stories it publishes
    pages: str = "ok"  # its article pages: one of PAGES

    @property
    def delivers(self) -> bool:
        """Whether its articles reach a store (gone and HTML-serving feeds never do)."""
        return self.health in DELIVERING

    def feed_name(self, path: str) -> str:
        """The name of one of its feeds, as listed in feeds.yaml."""
        if len(self.feeds) == 1:
            return self.name
        return f"{self.name} — {self.sections[self.feeds.index(path)].title()}"

    def home(self, site: str | None) -> str:
        """Its home page, on `site` (the demo server) or in its invented domain."""
        return self.homepage if site is None else f"{site}/{self.slug}/"


@dataclass(slots=True, eq=False)
class DemoArticle:
    """One article: its page (the whole text) and what its outlet's feed carries of it.

    `feeds` are feed paths as listed in feeds.yaml (the path before a move). `published` is None
    for an undated item; `available` is when the item first appears in its feeds (equal to
    `published` for dated items). Syndicated copies share `story` and `mentions` (dicts
    shared between articles: do not mutate them), and their title and text unless the outlet
    that carries a copy changed them (see _Generator.copy: never a watched name).

    `mentions` are the mentions in the title and the article's text (its page); `feed_mentions`
    those in the title and what the feed carries (the whole text, or a one-sentence summary for
    outlets whose feeds carry summaries). `counted` says which of them a correct poller counts.
    """

    feeds: tuple[str, ...]
    title: str
    mentions: dict[str, int]
    feed_mentions: dict[str, int]
    story: int
    author: str
    lang: str
    # compact: what the properties below are made of (a world holds hundreds of thousands)
    _outlet: Outlet = field(repr=False)
    _section: str = field(repr=False)
    _slug: str = field(repr=False)  # from the title
    _serial: int = field(repr=False)
    _body: _Body = field(repr=False)
    _ts: int = field(repr=False)
    _dated: bool = field(repr=False)

    @property
    def outlet(self) -> str:
        """The outlet's slug."""
        return self._outlet.slug

    @property
    def path(self) -> str:
        """Where the demo server serves the article's page (without the tracking suffix)."""
        t = time.gmtime(self._ts)
        return (
            f"/{self._outlet.slug}/{self._section}/{t.tm_year}/{t.tm_mon:02d}/"
            f"{t.tm_mday:02d}/{self._slug}-{self._serial}"
        )

    @property
    def url(self) -> str:
        """The article's address in an invented outlet's own domain (feeds rendered without a
        site: see `link`)."""
        return self.link(None)

    def link(self, site: str | None) -> str:
        """The article's link in feeds served from `site` (its page is at `site + path`), or,
        with no site, in the outlet's invented domain."""
        o = self._outlet
        if site is None:
            rest = self.path.removeprefix("/" + o.slug)
            return f"https://www.{o.slug}.example{rest}{o.link_suffix}"
        return f"{site}{self.path}{o.link_suffix}"

    def guid_at(self, site: str | None) -> str:
        o = self._outlet
        if o.guid_is_link:
            return self.link(site)
        return f"tag:{o.slug}.example,{time.gmtime(self._ts).tm_year}:article-{self._serial}"

    @property
    def guid(self) -> str:
        return self.guid_at(None)

    @property
    def published(self) -> datetime | None:
        return datetime.fromtimestamp(self._ts, UTC) if self._dated else None

    @property
    def available(self) -> datetime:
        return datetime.fromtimestamp(self._ts, UTC)

    @property
    def html(self) -> str:
        """The article's HTML: its whole text, as on its page."""
        return self._body.html()

    @property
    def text(self) -> str:
        """Plain text of `html`, white space collapsed: the article's text."""
        return self._body.text()

    @property
    def teaser(self) -> str:
        """The article's first sentence, as plain text."""
        return self._body.teaser()

    @property
    def full_feed(self) -> bool:
        """Whether the feed carries the whole article (else a one-sentence summary)."""
        return self._outlet.full_content

    @property
    def feed_html(self) -> str:
        """The HTML the feed carries: the whole text, or the summary."""
        return self._body.html() if self._outlet.full_content else self._body.teaser_html()

    @property
    def feed_text(self) -> str:
        """Plain text of `feed_html`, white space collapsed."""
        return self._body.text() if self._outlet.full_content else self._body.teaser()

    def counted(self, full_text: bool = True) -> dict[str, int]:
        """The mentions a correct poller counts: in the title and the page's text when it reads
        the page (`full_text`, and the page is readable: not refused by robots.txt, not behind
        the paywall), else in the title and what the feed carries."""
        if full_text and self._outlet.pages == "ok":
            return self.mentions
        return self.feed_mentions

    @property
    def read_in_full(self) -> bool:
        """Whether the demo's feeds.yaml makes a poller read this article's page (summary
        feeds only) and the page gives the article (see `counted`)."""
        return not self._outlet.full_content and self._outlet.pages == "ok"


# ---------------------------------------------------------------------------------------------
# Bodies: compact until asked for (a world holds ~50,000 of them)

_MARK = "\x00"
_NAMED_ENTITIES = {
    ord("á"): "&aacute;",
    ord("é"): "&eacute;",
    ord("í"): "&iacute;",
    ord("ó"): "&oacute;",
    ord("ú"): "&uacute;",
    ord("ñ"): "&ntilde;",
    ord("Á"): "&Aacute;",
    ord("É"): "&Eacute;",
    ord("Í"): "&Iacute;",
    ord("Ó"): "&Oacute;",
    ord("Ú"): "&Uacute;",
    ord("Ñ"): "&Ntilde;",
    ord("ü"): "&uuml;",
    ord("¿"): "&iquest;",
    ord("¡"): "&iexcl;",
    ord("’"): "&#8217;",
    ord("‘"): "&#8216;",
    ord("“"): "&ldquo;",
    ord("”"): "&rdquo;",
    ord("«"): "&laquo;",
    ord("»"): "&raquo;",
    ord("—"): "&mdash;",
    ord(_MARK): "\n",
}


def _esc(s: str) -> str:
    """Escape text for XML/HTML element content."""
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    return s


def _esc_attr(s: str) -> str:
    return _esc(s).replace('"', "&quot;")


_NO_MENTIONS: dict[str, int] = {}  # shared by every article that mentions no one: never mutate
_BREAK = 0xFFFF  # a paragraph break in _Body.codes
_LITERAL = 0xF000  # _LITERAL + k in _Body.codes: the k-th literal sentence


class _Body:
    """An article body: paragraphs of filler-pool indices and literal sentences.

    Stored compactly (a world holds hundreds of thousands): the paragraphs as one string of
    16-bit codes (a pool index, a literal's number, or a paragraph break), the sentences that
    are not filler (the mentions) in `literals`.
    """

    __slots__ = ("codes", "entities", "link", "literals", "plain", "pool")

    def __init__(
        self,
        pool: Sequence[str],
        paras: tuple[tuple[int | str, ...], ...],
        entities: bool,
        plain: bool,
        link: str,
    ) -> None:
        codes = array("H")
        literals: list[str] = []
        for p, para in enumerate(paras):
            if p:
                codes.append(_BREAK)
            for item in para:
                if isinstance(item, str):
                    codes.append(_LITERAL + len(literals))
                    literals.append(item)
                else:
                    codes.append(item)
        self.pool = pool
        self.codes = codes.tobytes()
        self.literals = tuple(literals) if literals else ()
        self.entities = entities  # HTML entities for accents and quotes
        self.plain = plain  # the summary written without <p>
        self.link = link

    @property
    def paras(self) -> list[list[int | str]]:
        paras: list[list[int | str]] = [[]]
        codes = array("H")
        codes.frombytes(self.codes)
        for code in codes:
            if code == _BREAK:
                paras.append([])
            elif code >= _LITERAL:
                paras[-1].append(self.literals[code - _LITERAL])
            else:
                paras[-1].append(code)
        return paras

    def _sentence(self, item: int | str) -> str:
        if isinstance(item, int):
            return self.pool[item]
        return item.replace(_MARK, " ") if _MARK in item else item

    def text(self) -> str:
        s = self._sentence
        return " ".join(" ".join(s(item) for item in para) for para in self.paras)

    def teaser(self) -> str:
        return self._sentence(self.paras[0][0])

    def teaser_html(self) -> str:
        """The first sentence, as a feed's summary carries it."""
        item = self.paras[0][0]
        h = _esc(self.pool[item] if isinstance(item, int) else item)
        if self.entities and not h.isascii():
            h = h.translate(_NAMED_ENTITIES)
        elif _MARK in h:
            h = h.replace(_MARK, "\n")
        return h if self.plain else f"<p>{h}</p>"

    def html(self) -> str:
        entities = self.entities
        paras = []
        for p, para in enumerate(self.paras):
            parts = []
            for i, item in enumerate(para):
                raw = self.pool[item] if isinstance(item, int) else item
                h = _esc(raw)
                if entities and not h.isascii():
                    h = h.translate(_NAMED_ENTITIES)
                elif _MARK in h:
                    h = h.replace(_MARK, "\n")
                if isinstance(item, int):
                    if (item + p) % 7 == 3:
                        h = f"<em>{h}</em>"
                    elif (item + i) % 11 == 5:
                        h = f'<a href="{self.link}">{h}</a>'
                elif i and (len(raw) + p) % 9 == 4:
                    h = f"<strong>{h}</strong>"
                parts.append(h)
            paras.append(" ".join(parts))
        return "\n".join(f"<p>{p}</p>" for p in paras)


# ---------------------------------------------------------------------------------------------
# The filler guard


def _fold(s: str) -> str:
    decomposed = unicodedata.normalize("NFKD", s)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


_WORD = re.compile(r"[^\W_]+")  # letters and digits: what match.py treats as word characters
_SLOT = re.compile(r"\{(\w+)\}")


def _filler_texts() -> Iterable[str]:
    """Every piece of text the generator writes that is not a deliberate mention or decoy."""
    for word_lists in _PROSE.values():
        for words in word_lists:
            yield from words
    for subjects, events in _TITLE_FILLER.values():
        yield from subjects + events
    yield from _OPINION_PREFIX.values()
    yield from _DATELINE_CITIES + _FIRST_NAMES + _LAST_NAMES + _EXTRA_TOWNS + _EXTRA_PAPERS
    yield from (name for name, _, _ in _OUTLETS)
    yield from _SECTION_NAMES
    yield from (_agency_tag(name) for name, _, tags in _OUTLETS if "wire" in tags)
    for parts in _LEDE_PARTS.values():
        for words in parts:
            yield from (_SLOT.sub(" ", t) for t in words)
    for templates in _CREDITS.values():
        yield from (_SLOT.sub(" ", t) for t in templates)
    for table in (_MENTION_TEMPLATES, _TITLE_TEMPLATES):
        for templates in table.values():
            yield from (_SLOT.sub(" ", t) for t in templates)
    excludes = {spec.entity.name: spec.entity.exclude for spec in _SPECS}
    for (name, _), templates in _EXTRA_TEMPLATES.items():
        for t in templates:  # these carry an exclude phrase on purpose
            for phrase in excludes[name]:
                t = t.replace(phrase, " ")
            yield _SLOT.sub(" ", t)
    for templates in _PAIR_TITLES.values():
        yield from (_SLOT.sub(" ", t) for t in templates)


def _agency_tag(name: str) -> str:
    """A wire's tag in datelines: its initials ("Orvane Newswire" -> "ON")."""
    return "".join(word[0] for word in name.split()).upper()


def filler_clashes(entities: Sequence[Entity]) -> list[str]:
    """Problems that would let filler text mention an entity by accident ([] when none).

    Every word of every name, alias and exclude phrase (folded: lower case, no accents) must be
    absent from the filler vocabulary, so filler can never spell a name, alone or next to a
    deliberate mention; and no template may glue a slot to a letter or digit.
    """
    name_words: dict[str, str] = {}
    for entity in entities:
        for phrase in (*entity.names, *entity.exclude):
            for word in _WORD.findall(_fold(phrase)):
                name_words.setdefault(word, phrase)
    problems = []
    seen = set()
    for text in _filler_texts():
        for word in _WORD.findall(_fold(text)):
            if word in name_words and word not in seen:
                seen.add(word)
                problems.append(f"filler word {word!r} is part of {name_words[word]!r}")
    for table in (_MENTION_TEMPLATES, _EXTRA_TEMPLATES, _TITLE_TEMPLATES, _PAIR_TITLES):
        for templates in table.values():
            for t in templates:
                for m in _SLOT.finditer(t):
                    before = t[m.start() - 1 : m.start()]
                    after = t[m.end() : m.end() + 1]
                    if _WORD.match(before) or _WORD.match(after):
                        problems.append(f"template glues a slot to a word: {t!r}")
    return problems


# ---------------------------------------------------------------------------------------------
# Feed rendering

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _format_date(ts: int, outlet: Outlet) -> str:
    t = time.gmtime(ts + outlet.utc_offset)
    clock = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    if outlet.fmt == "rss":
        day = f"{_WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon]} {t.tm_year}"
        return f"{day} {clock} {outlet.date_style}"
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{clock}{outlet.date_style}"


def _iso_utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _xml_title(s: str, outlet: Outlet) -> str:
    s = _esc(s)
    if outlet.html_entities and not s.isascii():
        s = s.encode("ascii", "xmlcharrefreplace").decode("ascii")
    return s


def _render_item(a: DemoArticle, outlet: Outlet, section: str, site: str | None) -> str:
    title = _xml_title(a.title, outlet)
    url = a.link(site)
    link = _esc(url)
    author = _esc(a.author)
    date_str = _format_date(a._ts, outlet) if a.published is not None else ""
    if outlet.fmt == "rss":
        if outlet.guid_is_link:
            guid = f'<guid isPermaLink="true">{link}</guid>'
        else:
            guid = f'<guid isPermaLink="false">{_esc(a.guid_at(site))}</guid>'
        parts = [f"<item>\n<title>{title}</title>\n<link>{link}</link>\n{guid}\n"]
        if date_str:
            parts.append(f"<pubDate>{date_str}</pubDate>\n")
        parts.append(f"<dc:creator>{author}</dc:creator>\n<category>{section}</category>\n")
        if outlet.full_content:
            parts.append(f"<description>{_esc(a.teaser)}</description>\n")
            html = a.html
            if outlet.cdata:
                parts.append(f"<content:encoded><![CDATA[{html}]]></content:encoded>\n")
            else:
                parts.append(f"<content:encoded>{_esc(html)}</content:encoded>\n")
        else:
            parts.append(f"<description>{_esc(a.feed_html)}</description>\n")
        parts.append("</item>\n")
        return "".join(parts)
    if outlet.fmt == "atom":
        parts = [
            f'<entry>\n<title type="text">{title}</title>\n'
            f'<link rel="alternate" type="text/html" href="{_esc_attr(url)}"/>\n'
            f"<id>{_esc(a.guid_at(site))}</id>\n"
        ]
        if date_str:
            parts.append(f"<published>{date_str}</published>\n<updated>{date_str}</updated>\n")
        parts.append(f'<author><name>{author}</name></author>\n<category term="{section}"/>\n')
        if outlet.full_content:
            parts.append(f'<summary type="text">{_esc(a.teaser)}</summary>\n')
            parts.append(f'<content type="html">{_esc(a.html)}</content>\n')
        else:
            parts.append(f'<summary type="html">{_esc(a.feed_html)}</summary>\n')
        parts.append("</entry>\n")
        return "".join(parts)
    parts = [f'<item rdf:about="{_esc_attr(url)}">\n<title>{title}</title>\n<link>{link}</link>\n']
    if outlet.full_content:
        parts.append(f"<description>{_esc(a.teaser)}</description>\n")
        parts.append(f"<content:encoded>{_esc(a.html)}</content:encoded>\n")
    else:
        parts.append(f"<description>{_esc(a.feed_html)}</description>\n")
    if date_str:
        parts.append(f"<dc:date>{date_str}</dc:date>\n")
    parts.append(
        f"<dc:creator>{author}</dc:creator>\n<dc:subject>{section}</dc:subject>\n</item>\n"
    )
    return "".join(parts)


def _feed_document(
    outlet: Outlet, section: str, items: list[DemoArticle], site: str | None = None
) -> str:
    title = _xml_title(outlet.name if section == "news" else f"{outlet.name}: {section}", outlet)
    home = _esc(outlet.home(site))
    lang = outlet.languages[0]
    about = "Invented outlet of the media-monitor demo world; every story here is synthetic."
    body = "".join(_render_item(a, outlet, section, site) for a in items)
    head = '<?xml version="1.0" encoding="utf-8"?>\n'
    if outlet.fmt == "rss":
        return (
            f'{head}<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
            f"<title>{title}</title>\n<link>{home}</link>\n<description>{about}</description>\n"
            f"<language>{lang}</language>\n<generator>media-monitor demo world</generator>\n"
            f"{body}</channel>\n</rss>\n"
        )
    if outlet.fmt == "atom":
        updated = _iso_utc(items[0]._ts if items else 0)
        return (
            f'{head}<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}">\n'
            f"<title>{title}</title>\n<subtitle>{about}</subtitle>\n"
            f"<id>tag:{outlet.slug}.example,2000:feed:{section}</id>\n"
            f'<link rel="alternate" type="text/html" href="{home}"/>\n'
            f"<updated>{updated}</updated>\n<generator>media-monitor demo world</generator>\n"
            f"{body}</feed>\n"
        )
    seq = "".join(f'<rdf:li rdf:resource="{_esc_attr(a.link(site))}"/>' for a in items)
    return (
        f'{head}<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
        f'<channel rdf:about="{home}">\n<title>{title}</title>\n<link>{home}</link>\n'
        f"<description>{about}</description>\n<items><rdf:Seq>{seq}</rdf:Seq></items>\n"
        f"</channel>\n{body}</rdf:RDF>\n"
    )


# ---------------------------------------------------------------------------------------------
# Article pages: the article amid the boilerplate of a news site, which names watched entities
# (navigation, a cookie banner, "most read", related stories, comments, the footer) and must
# not be counted. Only the article's title and text are.

_PAGE_TEXTS = {
    "en": {
        "cookies": (
            "We and our 214 partners, among them Vellacourt Bank and Kestrel Orbital, use "
            "cookies to measure our audience and show you relevant ads."
        ),
        "accept": "Accept all",
        "reject": "Reject",
        "sections": ("News", "Politics", "Business", "Opinion", "Weather"),
        "trending": "Trending",
        "topics": ("Talia Brenwick", "Port Elvarra", "Tidewater Accord", "NRTB", "Karsvik"),
        "by": "By",
        "most_read": "Most read",
        "related": "Related stories",
        "comments": "comments",
        "said": (
            "Brenwick has been saying this for years.",
            "Nobody in Karsvik believes the NRTB any more.",
            "Ask Vellacourt Bank who really pays for the Grain Levy.",
            "Olaizabal will never agree to the Tidewater Accord.",
        ),
        "paywall": "This story is for subscribers. Subscribe to keep reading.",
        "footer": "Our coverage of Santa Ilvera and the Blue Corridor is funded by our readers.",
    },
    "es": {
        "cookies": (
            "Nosotros y nuestros 214 socios, entre ellos Vellacourt Bank y Kestrel Orbital, "
            "usamos cookies para medir la audiencia y mostrarle anuncios relevantes."
        ),
        "accept": "Aceptar todo",
        "reject": "Rechazar",
        "sections": ("Noticias", "Política", "Economía", "Opinión", "Tiempo"),
        "trending": "Tendencias",
        "topics": ("Ramón Olaizábal", "Santa Ilvera", "Pacto Tidewater", "AVELCO", "Karsvik"),
        "by": "Por",
        "most_read": "Lo más leído",
        "related": "Noticias relacionadas",
        "comments": "comentarios",
        "said": (
            "Olaizábal lleva años diciendo lo mismo.",
            "En Santa Ilvera ya nadie cree a la NRTB.",
            "Que Vellacourt Bank explique quién paga la tasa granaria.",
        ),
        "paywall": "Esta noticia es solo para suscriptores. Suscríbase para seguir leyendo.",
        "footer": "Nuestra cobertura de Port Elvarra y el Corredor Azul la pagan los lectores.",
    },
}


def _page(world: World, a: DemoArticle, site: str) -> str:
    """The HTML page of an article (see PAGES for what its outlet shows)."""
    o = a._outlet
    t = _PAGE_TEXTS[a.lang]
    home = o.home(site)
    others = world.articles
    n = len(others)
    picks = [others[(a._serial * 7919 + k * 104_729) % n] for k in range(1, 9)]
    links = "".join(
        f'<li><a href="{_esc_attr(b.link(site))}">{_esc(b.title)}</a></li>' for b in picks[:5]
    )
    related = "".join(
        f'<li><a href="{_esc_attr(b.link(site))}">{_esc(b.title)}</a></li>' for b in picks[5:]
    )
    nav = "".join(f'<li><a href="{home}{_slugify(x)}/">{x}</a></li>' for x in t["sections"])
    topics = "".join(
        f'<li><a href="{home}topics/{_slugify(x)}/">{_esc(x)}</a></li>' for x in t["topics"]
    )
    said = t["said"]
    comments = "".join(
        f'<div class="comment"><p class="comment-author">reader{(a._serial + k) % 97}</p>'
        f"<p>{_esc(said[(a._serial + k) % len(said)])}</p></div>"
        for k in range(2)
    )
    stamp = _iso_utc(a._ts)
    body = a.html
    if o.pages == "paywall":
        body = (
            f"<p>{_esc(a.teaser)}</p>\n"
            f'<div class="paywall"><p>{t["paywall"]}</p><a href="{home}subscribe">→</a></div>'
        )
    return (
        f'<!DOCTYPE html>\n<html lang="{a.lang}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_esc(a.title)} | {_esc(o.name)}</title>\n"
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<link rel="canonical" href="{_esc_attr(a.link(site))}">\n</head>\n<body>\n'
        f'<div id="cookie-consent" class="cookie-banner" role="dialog"><p>{t["cookies"]}</p>'
        f"<button>{t['accept']}</button> <button>{t['reject']}</button></div>\n"
        f'<header class="site-header"><a class="logo" href="{home}">{_esc(o.name)}</a>\n'
        f'<nav class="sections"><ul>{nav}</ul></nav>\n'
        f'<nav class="trending"><span>{t["trending"]}:</span><ul>{topics}</ul></nav></header>\n'
        f"<main>\n<article>\n<h1>{_esc(a.title)}</h1>\n"
        f'<p class="byline">{t["by"]} {_esc(a.author)} · <time datetime="{stamp}">'
        f"{stamp[:10]}</time></p>\n"
        f'<div class="article-body">\n{body}\n</div>\n</article>\n'
        f'<aside class="most-read"><h2>{t["most_read"]}</h2><ol>{links}</ol></aside>\n'
        f'<section class="related"><h2>{t["related"]}</h2><ul>{related}</ul></section>\n'
        f'<section class="comments" id="comments"><h2>2 {t["comments"]}</h2>{comments}</section>\n'
        f'</main>\n<footer class="site-footer"><p>© {_esc(o.name)}. {t["footer"]}</p>'
        f"<ul>{topics}</ul></footer>\n</body>\n</html>\n"
    )


class _Feed:
    """One served feed: its outlet, section and articles in order of appearance."""

    __slots__ = ("articles", "outlet", "section", "times")

    def __init__(self, outlet: Outlet, section: str) -> None:
        self.outlet = outlet
        self.section = section
        self.articles: list[DemoArticle] = []
        self.times: list[int] = []

    def visible(self, at: datetime) -> int:
        return bisect.bisect_right(self.times, at.timestamp())


# ---------------------------------------------------------------------------------------------
# The world


@dataclass(eq=False)
class World:
    """A generated demo world: outlets, watchlist, articles and their ground truth."""

    seed: int
    now: datetime
    days: int
    entities: list[Entity]
    outlets: list[Outlet]
    articles: list[DemoArticle]
    # bursts of coverage: (entity name, first UTC day, number of days)
    events: list[tuple[str, date, int]]
    # the known spike (one of the bursts): its entity and when it starts; None in a world of
    # fewer than SPIKE_MIN_DAYS days
    spike: tuple[str, datetime] | None
    _feeds: dict[str, _Feed] = field(repr=False)
    _times: list[int] = field(repr=False)  # `available` of all articles, sorted
    _pages: dict[str, DemoArticle] | None = field(default=None, repr=False)  # by page path

    @classmethod
    def generate(
        cls,
        *,
        seed: int = 7,
        days: int = 90,
        outlets: int = 40,
        articles_per_day: int = 500,
        now: datetime,
        live_per_minute: float = 6.0,
        live_minutes: int = 240,
        unhealthy: bool = True,
    ) -> World:
        """Build the world for `seed`, with `days` of history ending at `now` (tz-aware).

        About `articles_per_day` articles a day in total (syndicated copies included), spread
        over `outlets` outlets, plus about `live_per_minute` a minute for `live_minutes` after
        `now`. `unhealthy=False` makes every feed healthy (for benchmarks). The misbehaving
        feeds and the two-section outlet need `outlets >= 12`.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if days < 1 or outlets < 1 or articles_per_day < 0 or live_minutes < 0:
            raise ValueError("days and outlets must be >= 1; rates must not be negative")
        entities = [s.entity for s in _SPECS]
        problems = filler_clashes(entities)
        if problems:
            raise ValueError("demo world filler clashes with the watchlist: " + "; ".join(problems))
        return _Generator(seed, now, days, outlets, unhealthy).build(
            articles_per_day, live_per_minute, live_minutes
        )

    # --- feeds ---------------------------------------------------------------------------------

    def feed_paths(self) -> list[str]:
        """The path of every feed as listed in feeds.yaml (including the misbehaving ones)."""
        return [path for outlet in self.outlets for path in outlet.feeds]

    def outlet_of(self, path: str) -> Outlet:
        """The outlet serving `path` (a listed path, or the new path of a moved feed)."""
        return self._feed(path).outlet

    def articles_in(self, path: str) -> list[DemoArticle]:
        """The articles of one feed, oldest first (by `available`)."""
        return list(self._feed(path).articles)

    def visible_count(self, path: str, at: datetime) -> int:
        """How many items the feed at `path` has at `at` (before any limit)."""
        return self._feed(path).visible(at)

    def last_modified(self, path: str, at: datetime) -> datetime | None:
        """When the newest item visible at `at` appeared; None for an empty feed."""
        feed = self._feed(path)
        n = feed.visible(at)
        return datetime.fromtimestamp(feed.times[n - 1], UTC) if n else None

    def render_feed(
        self, path: str, at: datetime, limit: int | None = None, site: str | None = None
    ) -> bytes:
        """The feed document at `path` with the items available at `at`, newest first.

        `limit` keeps the newest `limit` items. Links point at the articles' pages on `site`
        (the demo server's base URL), or, with no site, in the outlets' invented domains. The
        result depends only on which items are visible, so it can be cached by (path,
        visible_count). Feeds that serve no XML (gone, HTML) render as empty feeds.
        """
        feed = self._feed(path)
        n = feed.visible(at)
        start = max(0, n - limit) if limit is not None else 0
        items = feed.articles[start:n][::-1]
        return _feed_document(feed.outlet, feed.section, items, site).encode("utf-8")

    def catch_up_times(self, until: datetime, items: int) -> list[datetime]:
        """Moments to poll the feeds at so that feeds of `items` items show every item.

        When each feed carries only its newest `items` items, a poller that polls every feed at
        each of these moments (oldest first; the last is `until`) sees every item available at
        `until`: no feed publishes more than `items` items between two consecutive moments.
        This is how the demo ingests a long history through feeds of bounded size, the way a
        poller that had been running all along would have seen it.
        """
        if items < 1:
            raise ValueError("items must be >= 1")
        end = until.timestamp()
        feeds = {id(f): f for f in self._feeds.values()}.values()  # a moved feed: one _Feed
        moments: list[datetime] = []
        t = float("-inf")
        while True:
            step = end
            for feed in feeds:
                seen = bisect.bisect_right(feed.times, t)
                if feed.visible(until) - seen > items:
                    # just before the (items + 1)-th item published after t
                    step = min(step, feed.times[seen + items] - 1)
            if step <= t:
                raise ValueError(f"more than {items} items in one second: cannot catch up")
            moments.append(until if step == end else datetime.fromtimestamp(step, UTC))
            if step == end:
                return moments
            t = step

    # --- article pages ------------------------------------------------------------------------

    def page(self, path: str) -> DemoArticle | None:
        """The article whose page is at `path` on the demo server (None: no such page)."""
        if self._pages is None:
            self._pages = {a.path: a for a in self.articles}
        return self._pages.get(path)

    def render_page(self, a: DemoArticle, site: str) -> bytes:
        """The HTML page of an article served from `site`: its title and text amid the
        boilerplate of a news site (see `PAGES` for the outlets that show less)."""
        return _page(self, a, site).encode("utf-8")

    def robots_txt(self) -> str:
        """The demo server's robots.txt: the pages of outlets with `pages == "robots"` are
        refused to media-monitor (their feeds are not: feed readers do not read robots.txt)."""
        lines = ["# media-monitor demo world", "User-agent: media-monitor"]
        lines += [
            f"Disallow: /{o.slug}/{section}/"
            for o in self.outlets
            if o.pages == "robots"
            for section in o.sections
        ]
        lines += ["Allow: /", "", "User-agent: *", "Disallow: /private/", ""]
        return "\n".join(lines)

    def _feed(self, path: str) -> _Feed:
        try:
            return self._feeds[path]
        except KeyError:
            raise KeyError(f"no feed at {path!r} in the demo world") from None

    # --- configuration ------------------------------------------------------------------------

    def feeds_yaml(self, base_url: str, store: str, every: str = "30s") -> str:
        """A feeds.yaml for this world served at `base_url`, storing into `store`."""
        q = _yaml_str
        base = base_url.rstrip("/")
        lines = [
            "# The demo world of media-monitor: invented outlets, people, places and stories,",
            f"# generated by monitor/demo/world.py (seed {self.seed}) and served on {base}.",
            "# Nothing here is real. Some feeds misbehave on purpose: one answers 500 now and",
            "# then, one is slow, one has moved (301), one is gone (410), one serves an HTML page.",
            f"store: {q(store)}",
            "poll:",
            f"  every: {q(every)}",
            "  full_text: true  # read the page of every new article and count mentions there",
            "feeds:",
        ]
        for outlet in self.outlets:
            for path in outlet.feeds:
                lines.append(f"  - name: {q(outlet.feed_name(path))}")
                lines.append(f"    url: {q(base + path)}")
                lines.append(f"    tags: [{', '.join(q(t) for t in outlet.tags)}]")
                if outlet.full_content:
                    lines.append("    full_text: false  # its entries carry the whole article")
        lines.append("watch:")
        for e in self.entities:
            lines.append(f"  - name: {q(e.name)}")
            lines.append(f"    kind: {e.kind}")
            lines.append(f"    aliases: [{', '.join(q(a) for a in e.aliases)}]")
            lines.append(f"    exclude: [{', '.join(q(x) for x in e.exclude)}]")
            if e.case_sensitive is not None:
                lines.append(f"    case_sensitive: {'true' if e.case_sensitive else 'false'}")
        return "\n".join(lines) + "\n"

    # --- ground truth -------------------------------------------------------------------------

    def delivered(self, until: datetime) -> list[DemoArticle]:
        """The articles a correct poller has stored after polling every feed at `until`."""
        limit = until.timestamp()
        return [a for a in self.articles if a._ts <= limit]

    def expected_articles(self, until: datetime) -> int:
        """How many distinct articles a correct poller has stored after polling at `until`."""
        return bisect.bisect_right(self._times, until.timestamp())

    def truth(
        self, until: datetime, undated_seen: datetime, *, full_text: bool = True
    ) -> pd.DataFrame:
        """Expected mentions and mentioning articles per entity and UTC day.

        For the articles a correct poller stores when it polls every feed at `until` and, with
        `full_text` (as the demo's feeds.yaml says), reads the pages of the articles whose feeds
        carry summaries (`DemoArticle.counted`); undated articles count on `undated_seen`'s UTC
        day. Columns: entity, day (datetime.date), mentions, articles; only rows with
        articles > 0, sorted by entity and day.
        """
        import pandas as pd

        limit = until.timestamp()
        undated_day = undated_seen.astimezone(UTC).date()
        mentions: dict[tuple[str, date], int] = {}
        articles: dict[tuple[str, date], int] = {}
        for a in self.articles:
            counted = a.counted(full_text)
            if a._ts > limit or not counted:
                continue
            day = undated_day if a.published is None else a.published.date()
            for entity, n in counted.items():
                key = (entity, day)
                mentions[key] = mentions.get(key, 0) + n
                articles[key] = articles.get(key, 0) + 1
        rows = sorted((e, d, mentions[e, d], articles[e, d]) for e, d in mentions)
        frame = pd.DataFrame(rows, columns=["entity", "day", "mentions", "articles"])
        return frame.astype({"mentions": "int64", "articles": "int64"})


def _yaml_str(s: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    out = s.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{out}"'


# ---------------------------------------------------------------------------------------------
# Generation


def _slugify(s: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _capitalize(s: str) -> str:
    return s[:1].upper() + s[1:]


class _Generator:
    def __init__(self, seed: int, now: datetime, days: int, outlets: int, unhealthy: bool) -> None:
        self.rng = random.Random(seed)
        self.rand = self.rng.random  # the hot paths use random() directly: 10x cheaper
        self.seed = seed
        self.now = now.astimezone(UTC)
        self.now_ts = int(now.timestamp())
        self.days = days
        self.n_outlets = outlets
        self.unhealthy = unhealthy
        self.specs = _SPECS
        self.pools = {"en": self._pool("en"), "es": self._pool("es")}
        self.templates = self._templates()
        self.serial = 0
        self.story_id = 0
        self.articles: list[DemoArticle] = []
        self.strings: dict[str, str] = {}
        self.mention_sets: dict[tuple[tuple[str, int], ...], dict[str, int]] = {}
        self.bursts: list[tuple[str, int, int]] = []
        self.spike: tuple[str, int] | None = None  # (entity, first day), among the bursts

    # --- randomness (fast forms of random.choice / randint / choices) -------------------------

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.rand() * len(seq))]

    def between(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi]."""
        return lo + int(self.rand() * (hi - lo + 1))

    def weighted(self, seq: Sequence[Any], cumulative: list[float]) -> Any:
        i = bisect.bisect_right(cumulative, self.rand() * cumulative[-1])
        return seq[min(i, len(seq) - 1)]

    # --- vocabulary ---------------------------------------------------------------------------

    def _pool(self, lang: str) -> list[str]:
        subjects, verbs, clauses, times, standalone = _PROSE[lang]
        pool = list(standalone)
        while len(pool) < _POOL_SIZE:
            s = self.pick(subjects)
            pool.append(f"{s} {self.pick(verbs)} {self.pick(clauses)}{self.pick(times)}.")
        return pool

    def _templates(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """(entity name, lang) -> [(slot, template)] usable for that entity."""
        out: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for spec in self.specs:
            for lang in ("en", "es"):
                usable = []
                candidates = _MENTION_TEMPLATES[spec.entity.kind, lang] + _EXTRA_TEMPLATES.get(
                    (spec.entity.name, lang), ()
                )
                for t in candidates:
                    slot = _SLOT.search(t)
                    assert slot is not None
                    kind = slot.group(1)
                    if kind in ("X", "P") or spec.short:
                        usable.append((kind, t))
                out[spec.entity.name, lang] = usable
        return out

    # --- outlets ------------------------------------------------------------------------------

    def outlets(self) -> list[Outlet]:
        names = [entry for entry in _OUTLETS[: self.n_outlets]]
        extra = (
            (f"{town} {paper}", "en", _EXTRA_TAGS[(i + j) % len(_EXTRA_TAGS)])
            for j, paper in enumerate(_EXTRA_PAPERS)
            for i, town in enumerate(_EXTRA_TOWNS)
        )
        taken = {name for name, _, _ in names}
        for candidate in extra:
            if len(names) >= self.n_outlets:
                break
            if candidate[0] not in taken:
                names.append(candidate)
                taken.add(candidate[0])
        unique = len(names)
        while len(names) < self.n_outlets:  # beyond ~600 outlets: numbered editions
            base_name, langs, tags = names[len(names) % unique]
            names.append((f"{base_name} {len(names) // unique + 1}", langs, tags))
        style_counters = dict.fromkeys(FORMATS, 0)
        result = []
        slugs: set[str] = set()
        for i, (name, langs, tags) in enumerate(names):
            fmt = _FORMAT_CYCLE[i % len(_FORMAT_CYCLE)]
            style, offset = _DATE_STYLES[fmt][style_counters[fmt] % len(_DATE_STYLES[fmt])]
            style_counters[fmt] += 1
            slug = _slugify(name)
            while slug in slugs:
                slug += "-x"
            slugs.add(slug)
            health = _HEALTH_AT.get(i, "ok") if self.unhealthy else "ok"
            is_wire = "wire" in tags
            ext = "xml" if fmt != "rdf" else "rdf"
            main = {"rss": "feed.xml", "atom": "atom.xml", "rdf": "index.rdf"}[fmt]
            if i == _SECTIONS_AT:
                sections: tuple[str, ...] = ("world", "americas")
                feeds = tuple(f"/{slug}/{s}/{main}" for s in sections)
            else:
                sections = ("opinion",) if "opinion" in tags else ("news",)
                feeds = (f"/{slug}/{main}",)
            moved_to = None
            if health == "moved":
                moved_to = feeds[0]
                feeds = (f"/feeds/{slug}.{ext}",)
            elif health == "html":
                feeds = (f"/{slug}/news/",)
            weight = max(_KIND_WEIGHT[t] for t in tags)
            result.append(
                Outlet(
                    name=name,
                    slug=slug,
                    fmt=fmt,
                    tags=tags,
                    languages=tuple(langs.split("+")),
                    full_content=is_wire or i % 3 != 1,
                    health=health,
                    feeds=feeds,
                    sections=sections,
                    moved_to=moved_to,
                    homepage=f"https://www.{slug}.example/",
                    date_style=style,
                    utc_offset=offset,
                    undated_share=0.25 if fmt != "atom" and i % 4 == 3 else 0.0,
                    html_entities=i % 2 == 1,
                    cdata=i % 3 == 0,
                    guid_is_link=i % 4 == 0,
                    link_suffix="?utm_source=rss&utm_medium=feed" if i % 6 == 4 else "",
                    weight=weight,
                    pages=_PAGES_AT.get(i, "ok") if self.unhealthy else "ok",
                )
            )
        return result

    # --- stories ------------------------------------------------------------------------------

    def _form(self, spec: _Spec, slot: str, lang: str) -> tuple[str, int]:
        forms = spec.forms_en if lang == "en" else spec.forms_es
        if slot == "X":
            return self.pick(forms)
        if slot == "P":
            single = [f for f, n in forms if n == 1]
            return self.pick(single) + ("’s" if self.rand() < 0.8 else "'s"), 1
        short = spec.short
        return {
            "L": f"{short}-led",
            "E": f"ex-{short}",
            "H": f"#{short}",
            "U": short.upper(),
            "A": f"anti-{short}",
        }[slot], 1

    def _mention_sentence(self, spec: _Spec, lang: str) -> tuple[str, int]:
        slot, template = self.pick(self.templates[spec.entity.name, lang])
        form, n = self._form(spec, slot, lang)
        return self.shared(_capitalize(template.replace("{" + slot + "}", form))), n

    def _title(
        self, lang: str, primary: _Spec | None, second: _Spec | None, counts: dict[str, int]
    ) -> str:
        if primary is None:
            subjects, events = _TITLE_FILLER[lang]
            return f"{self.pick(subjects)} {self.pick(events)}"
        titles = primary.titles_en if lang == "en" else primary.titles_es
        t1 = self.pick(titles)
        counts[primary.entity.name] = counts.get(primary.entity.name, 0) + 1
        if second is not None:
            titles2 = second.titles_en if lang == "en" else second.titles_es
            t2 = self.pick(titles2)
            counts[second.entity.name] = counts.get(second.entity.name, 0) + 1
            template = self.pick(_PAIR_TITLES[lang])
            return _capitalize(template.replace("{T}", t1).replace("{T2}", t2))
        template = self.pick(_TITLE_TEMPLATES[primary.entity.kind, lang])
        return _capitalize(template.replace("{TP}", t1 + "’s").replace("{T}", t1))

    def story(
        self, outlet: Outlet, lang: str, weights: list[float]
    ) -> tuple[str, _Body, dict[str, int], dict[str, int], _Heads]:
        """A new story for `outlet` in `lang`: title, body, and the mentions per entity in the
        title and the whole body, and in the title and the first sentence (a feed's summary);
        and who its headline names (for the headlines of its copies: see `copy`)."""
        counts: dict[str, int] = {}
        primary = secondary = None
        extra: list[_Spec] = []
        if self.rand() < _P_ENTITY:
            primary = self.weighted(self.specs, weights)
            r = self.rand()
            n_extra = 2 if r < 0.08 else 1 if r < 0.4 else 0
            while len(extra) < n_extra:
                other = self.weighted(self.specs, weights)
                if other is not primary and other not in extra:
                    extra.append(other)
        in_title = primary is not None and self.rand() < 0.8
        if in_title and extra and self.rand() < 0.25:
            secondary = extra[0]
        title = self._title(lang, primary if in_title else None, secondary, counts)
        if "opinion" in outlet.tags:
            title = _OPINION_PREFIX[lang] + title
        lede = dict(counts)  # the title's mentions, then the first sentence's

        mentions: list[str] = []
        specs = [(primary, self.between(1, 4))] if primary is not None else []
        specs += [(spec, self.between(1, 2)) for spec in extra]
        for spec, k in specs:
            for _ in range(k):
                sentence, n = self._mention_sentence(spec, lang)
                mentions.append(sentence)
                counts[spec.entity.name] = counts.get(spec.entity.name, 0) + n
        if self.rand() < _P_DECOY:
            mentions.append(self.pick(_DECOYS[lang]))

        pool = self.pools[lang]
        sizes = [self.between(2, 3) for _ in range(self.between(3, 5))]
        total = max(sum(sizes), len(mentions) + 1)
        size = len(pool)
        rand = self.rand
        # the first sentence (a summary feed's whole text) is the story's own; then filler
        # from the pool, the mentions among it (the first one second or third)
        seq: list[int | str] = [self._lede(lang)]
        seq += [int(rand() * size) for _ in range(total - len(mentions) - 1)]
        for j, s in enumerate(mentions):
            seq.insert(
                self.between(1, min(2, len(seq))) if j == 0 else self.between(1, len(seq)), s
            )
        if "wire" in outlet.tags:
            places = [s for s in self.specs if s.entity.kind == "place"]
            if self.rand() < 0.3:
                place = self.pick(places)
                city = place.titles_en[0].upper()
                for tally in (counts, lede):
                    tally[place.entity.name] = tally.get(place.entity.name, 0) + 1
            else:
                city = self.pick(_DATELINE_CITIES)
            seq[0] = f"{city} ({outlet.name}) — {seq[0]}"
        # an article is much longer than its one-sentence summary (2x, and 600 characters)
        chars = sum(len(x if isinstance(x, str) else pool[x]) + 1 for x in seq)
        first_chars = len(seq[0] if isinstance(seq[0], str) else pool[seq[0]])
        while chars - 1 < max(600, 2 * first_chars):  # chars counts one space too many
            filler = int(rand() * size)
            seq.append(filler)
            chars += len(pool[filler]) + 1
        paras: list[tuple[int | str, ...]] = []
        pos = 0
        for j, size in enumerate(sizes):
            end = len(seq) if j == len(sizes) - 1 else pos + size
            paras.append(tuple(seq[pos:end]))
            pos = end
        body = _Body(
            pool,
            tuple(p for p in paras if p),
            entities=outlet.html_entities,
            plain=not outlet.html_entities,
            link=self.link(outlet, self.story_id % 97),
        )
        heads = (primary if in_title else None, secondary, "opinion" in outlet.tags)
        return self.shared(title), body, counts, lede, heads

    def _lede(self, lang: str) -> str:
        """A story's first sentence: who said what changed where, by how much, since when.
        Filler (no watched name), never a pool sentence, and every five words of it hold a
        choice or a number of its own, so that two stories' first sentences share few
        shingles (see monitor.stories) and a summary is a copy only of its own story."""
        subjects, verbs, _, times, _ = _PROSE[lang]
        things, changes, spans, months = _LEDE_PARTS[lang]
        that, point = ("that", ".") if lang == "en" else ("que", ",")
        n = f"{self.between(2, 95)}{point}{self.between(1, 9)}"
        span = self.pick(spans).replace("{k}", str(self.between(3, 40)))
        span = span.replace("{month}", self.pick(months))
        who = f"{self.pick(subjects)} {self.pick(verbs)}{self.pick([t for t in times if t])}"
        what = f"{self.pick(things)} in {self.pick(_EXTRA_TOWNS)}"
        if lang == "es":
            what = what.replace(" in ", " en ")
        return f"{who} {that} {what} {self.pick(changes).replace('{n}', n)} {span}."

    def copy(
        self,
        wire: Outlet,
        outlet: Outlet,
        ts: int,
        lang: str,
        title: str,
        body: _Body,
        heads: _Heads,
    ) -> tuple[str, _Body]:
        """The headline and body of a wire story as `outlet` runs it (see _P_COPY_*).

        No change adds or removes a watched name: the dateline keeps its city (which may be a
        watched place) and only its agency changes; a new headline names the same entities
        the same number of times; the sentence replaced is filler, never a mention, a decoy or
        the first sentence (a summary); the credit line is filler.
        """
        rand = self.rand
        if rand() < _P_COPY_TITLE:
            primary, secondary, opinion = heads
            new_title = self._title(lang, primary, secondary, {})
            title = self.shared(_OPINION_PREFIX[lang] + new_title if opinion else new_title)
        paras = [list(p) for p in body.paras]
        changed = False
        if rand() < _P_COPY_TAG:
            first = paras[0][0]
            assert isinstance(first, str)
            tagged = first.replace(f"({wire.name}) — ", f"({_agency_tag(wire.name)}) -- ", 1)
            paras[0][0], changed = tagged, tagged != first
        if rand() < _P_COPY_EDIT:
            places = [
                (p, i)
                for p, para in enumerate(paras)
                for i, item in enumerate(para)
                if isinstance(item, int) and (p, i) != (0, 0)
            ]
            if places:  # by one at least as long (an article stays 2x its summary)
                p, i = self.pick(places)
                item = paras[p][i]
                assert isinstance(item, int)
                old = body.pool[item]
                for _ in range(20):
                    k = int(rand() * len(body.pool))
                    if len(body.pool[k]) >= len(old) and body.pool[k] != old:
                        paras[p][i], changed = k, True
                        break
        credit = ""
        if rand() < _P_COPY_CREDIT:
            credit = self.pick(_CREDITS[lang]).replace("{wire}", wire.name)
            credit = credit.replace("{year}", str(time.gmtime(ts).tm_year))
            while "{staff}" in credit:
                credit = credit.replace("{staff}", self.pick(self.staff[wire.slug]), 1)
            changed = True
        if not changed:
            return title, body
        # an article stays 2x its summary, and 600 characters (a shorter tag shortens it)
        pool = body.pool
        chars = sum(len(x if isinstance(x, str) else pool[x]) + 1 for p in paras for x in p)
        first = paras[0][0]
        while chars - 1 < max(600, 2 * len(first if isinstance(first, str) else pool[first])):
            k = int(rand() * len(pool))
            paras[-1].append(k)
            chars += len(pool[k]) + 1
        if credit:
            paras.append([credit])
        copied = _Body(
            body.pool,
            tuple(tuple(p) for p in paras),
            entities=outlet.html_entities,
            plain=not outlet.html_entities,
            link=self.link(outlet, self.story_id % 97),
        )
        return title, copied

    def link(self, outlet: Outlet, topic: int) -> str:
        """A topic page of `outlet`."""
        return self.shared(f"{outlet.homepage}topics/{topic}")

    def shared(self, s: str) -> str:
        """One copy of each string that many articles carry (titles, sentences, links)."""
        return self.strings.setdefault(s, s)

    # --- schedule -----------------------------------------------------------------------------

    def _day_weights(self) -> tuple[list[float], list[list[float]]]:
        """Volume factor per day and cumulative entity weights per day (bursts included)."""
        rng = self.rng
        days = self.days
        volume = [1.0] * (days + 1)
        boost = [[1.0] * len(self.specs) for _ in range(days + 1)]
        if days >= 21:
            for _ in range(2):  # quiet weeks
                start = rng.randrange(0, days - 7)
                for d in range(start, start + 7):
                    volume[d] *= 0.6
        n_bursts = max(1, round(days / 22)) if days >= 5 else 0
        chosen = rng.sample(range(len(self.specs)), min(n_bursts, len(self.specs)))
        segment = days / max(1, n_bursts)
        bursts = []
        for j, e in enumerate(chosen):  # one burst in each stretch of the history
            length = self.between(3, 6)
            start = min(days - 2, int(j * segment + self.rand() * max(1.0, segment - length)))
            bursts.append((e, start, length))
        others = [e for e in range(len(self.specs)) if e not in chosen]
        if days >= SPIKE_MIN_DAYS and others:  # and the known spike, of an entity of its own
            e = self.pick(others)
            bursts.append((e, days - SPIKE_DAYS_AGO, SPIKE_DAYS_AGO))
            self.spike = (self.specs[e].entity.name, days - SPIKE_DAYS_AGO)
        for j, (e, start, length) in enumerate(bursts):
            self.bursts.append((self.specs[e].entity.name, start, length))
            peak = _SPIKE_BOOST if self.spike is not None and j == len(bursts) - 1 else 30
            for k in range(length):
                d = start + k
                if d <= days:
                    boost[d][e] *= peak * (0.55**k)
                    volume[d] *= 1.0 + 0.35 * (0.7**k)
        cumulative = []
        for d in range(days + 1):
            total = 0.0
            acc = []
            for e, spec in enumerate(self.specs):
                total += spec.weight * boost[d][e]
                acc.append(total)
            cumulative.append(acc)
        return volume, cumulative

    def build(self, articles_per_day: int, live_per_minute: float, live_minutes: int) -> World:
        outlets = self.outlets()
        deliver = [o for o in outlets if o.delivers]
        self.staff = {
            o.slug: [f"{self.pick(_FIRST_NAMES)} {self.pick(_LAST_NAMES)}" for _ in range(3)]
            for o in outlets
        }
        # who picks up a wire story: outlets other than the wire, by language
        self.pickers = {
            (o.slug, lang): [x for x in deliver if x is not o and lang in x.languages]
            for o in deliver
            if "wire" in o.tags
            for lang in o.languages
        }
        feeds: dict[str, _Feed] = {}
        for o in outlets:
            for path, section in zip(o.feeds, o.sections, strict=True):
                feeds[path] = _Feed(o, section)
            if o.moved_to:
                feeds[o.moved_to] = feeds[o.feeds[0]]
        if not deliver:
            return self._world(outlets, feeds)

        cum_outlets = []
        acc = 0.0
        for o in deliver:
            acc += o.weight
            cum_outlets.append(acc)
        wire_share = sum(o.weight for o in deliver if "wire" in o.tags) / acc
        pickers = len(deliver) - 1
        mean_copies = min(_MAX_PICKUPS, pickers) / 2 + 0.5 if pickers else 0
        factor = 1 + wire_share * _P_SYNDICATED * mean_copies

        volume, cum_entities = self._day_weights()
        start_ts = self.now_ts - self.days * 86400
        hours = self.days * 24
        weights = []
        for i in range(hours):
            t = time.gmtime(start_ts + i * 3600)
            w = _HOUR_PROFILE[t.tm_hour] * _WEEKDAY_PROFILE[t.tm_wday] * volume[i // 24]
            weights.append(w)
        total_w = sum(weights)
        target = self.days * articles_per_day / factor
        cum = 0.0
        done = 0
        for i, w in enumerate(weights):
            cum += w * target / total_w
            count = round(cum) - done
            done += count
            base = start_ts + i * 3600
            for _ in range(count):
                ts = base + int(self.rand() * 3600)
                self._publish(deliver, cum_outlets, cum_entities[i // 24], ts)
        n_live = round(live_minutes * live_per_minute / factor)
        for ts in sorted(
            self.now_ts + 1 + int(self.rand() * live_minutes * 60) for _ in range(n_live)
        ):
            self._publish(deliver, cum_outlets, cum_entities[self.days], ts)
        return self._world(outlets, feeds)

    def _publish(
        self, deliver: list[Outlet], cum_outlets: list[float], weights: list[float], ts: int
    ) -> None:
        rng = self.rng
        outlet = self.weighted(deliver, cum_outlets)
        langs = outlet.languages
        lang = langs[0] if len(langs) == 1 or self.rand() < 0.75 else langs[1]
        self.story_id += 1
        title, body, counts, lede, heads = self.story(outlet, lang, weights)
        slug = self.shared(_slugify(title)[:60].strip("-"))
        self._article(outlet, ts, title, body, (counts, lede), lang, slug, author=None)
        if "wire" in outlet.tags and self.rand() < _P_SYNDICATED:
            others = self.pickers[outlet.slug, lang]
            if not others:
                return
            picked = rng.sample(others, min(len(others), self.between(1, _MAX_PICKUPS)))
            for other in picked:
                delay = self.between(600, 5 * 3600)
                t, b = self.copy(outlet, other, ts + delay, lang, title, body, heads)
                s = slug if t is title else self.shared(_slugify(t)[:60].strip("-"))
                self._article(other, ts + delay, t, b, (counts, lede), lang, s, outlet.name)

    def _article(
        self,
        outlet: Outlet,
        ts: int,
        title: str,
        body: _Body,
        tallies: tuple[dict[str, int], dict[str, int]],
        lang: str,
        slug: str,
        author: str | None,
    ) -> None:
        self.serial += 1
        if len(outlet.feeds) > 1:
            r = self.rand()
            chosen = (0,) if r < 0.6 else (1,) if r < 0.85 else (0, 1)
            feeds = tuple(outlet.feeds[k] for k in chosen)
            section = outlet.sections[chosen[0]]
        else:
            feeds = outlet.feeds
            section = outlet.sections[0]
        if author is None:
            author = self.pick(self.staff[outlet.slug])
        # Undated items only in the last two days (and live): all of them count on the day they
        # are first seen, so a whole history of them would make one false spike.
        recent = ts > self.now_ts - 2 * 86400
        dated = not (recent and outlet.undated_share and self.rand() < outlet.undated_share)
        counts, lede = tallies
        self.articles.append(
            DemoArticle(
                feeds=feeds,
                title=title,
                mentions=self._tally(counts),
                feed_mentions=self._tally(counts if outlet.full_content else lede),
                story=self.story_id,
                author=author,
                lang=lang,
                _outlet=outlet,
                _section=section,
                _slug=slug,
                _serial=self.serial,
                _body=body,
                _ts=ts,
                _dated=dated,
            )
        )

    def _tally(self, counts: dict[str, int]) -> dict[str, int]:
        """One shared dict per distinct tally (a world holds hundreds of thousands)."""
        if not counts:
            return _NO_MENTIONS
        return self.mention_sets.setdefault(tuple(counts.items()), counts)

    def _world(self, outlets: list[Outlet], feeds: dict[str, _Feed]) -> World:
        articles = sorted(self.articles, key=lambda a: a._ts)
        for a in articles:
            for path in a.feeds:
                feed = feeds[path]
                feed.articles.append(a)
                feed.times.append(a._ts)
        return World(
            seed=self.seed,
            now=self.now,
            days=self.days,
            entities=[s.entity for s in self.specs],
            outlets=outlets,
            articles=articles,
            events=[
                (name, (self.now - timedelta(days=self.days - d)).date(), n)
                for name, d, n in sorted(self.bursts, key=lambda b: b[1])
            ],
            spike=None
            if self.spike is None
            else (self.spike[0], self.now - timedelta(days=self.days - self.spike[1])),
            _feeds=feeds,
            _times=[a._ts for a in articles],
        )


def describe(world: World) -> dict[str, Any]:
    """A few numbers about a world, for logs and docs."""
    return {
        "outlets": len(world.outlets),
        "feeds": len(world.feed_paths()),
        "articles": len(world.articles),
        "undated": sum(1 for a in world.articles if a.published is None),
        "entities": len(world.entities),
    }
