"""Recorded PSTN call logs: import, normalise and pseudonymise them, in bounded memory.

Three formats are read, detected from the file's first bytes and header line (or forced):

``graph-json``
    Microsoft Graph ``getPstnCalls`` responses: ``{"value": [pstnCallLogRow, ...]}``, several
    such pages one after the other, or a JSON array of pages (or of rows). The file is
    parsed incrementally (``json.JSONDecoder.raw_decode`` over chunks), one row at a time;
    numbers are kept as their literal text so that charges stay exact decimals.
``graph-csv``
    CSV with the ``pstnCallLogRow`` field names as headers.
``admin-csv``
    The Teams admin center PSTN usage report export ("Time stamp (UTC)", "Call type",
    "Called to", "To country or region", "Charge", ...; also the names of the zipped
    ``PSTN.calls.*.csv`` export such as "Start Time" or "User Location"). Headers are
    matched ignoring case, spacing, punctuation and order.

Files may be gzip-compressed, and an admin-center ``.zip`` export is read from its
``PSTN.calls*.csv`` member. Rows are gathered into chunks of a few ten thousand raw
strings and converted with numpy/pandas a chunk at a time (``iter_call_chunks``), so a
year of a large tenant streams through (``write_call_table`` writes Parquet chunk by chunk).

The normalised call table has one row per call (see ``COLUMNS``): UTC ``start`` and
``start_s`` (seconds after ``origin``), ``duration_s``, ccsim's ``call_type`` and
``number_type`` (``sim.calls``), ISO alpha-2 ``usage_country`` and ``dest_country``, the
``licence`` capability, exact ``charge_micros`` and ``connection_charge_micros`` (integer
micro-units parsed from the decimal text; never floats), ``currency``, ``user``
(pseudonymous by default: HMAC-SHA256 with a salt, truncated) and ``conference_id``.

Bad rows (missing fields, unparsable times or amounts, negative durations, unknown call
types or countries) are counted by reason and reported with their line (CSV) or record
number (JSON), never dropped silently; ``strict`` makes the first one fatal. Rows that are
valid but outside the model (emergency calls, Direct Routing) are counted as *skipped*.

Imports ``sim.calls``, ``sim.plans``, ``sim.units`` and ``sim.io`` (for ``InputError``).
"""

from __future__ import annotations

import codecs
import csv
import gc
import gzip
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import tempfile
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Literal, cast

import numpy as np
import pandas as pd

from sim.core.errors import InputError
from sim.core.units import MICROS_PER_UNIT
from sim.telephony.calls import CallType, NumberType
from sim.telephony.plans import CALLING_PLANS, CONFERENCING

LogFormat = Literal["graph-json", "graph-csv", "admin-csv"]
FORMATS: tuple[LogFormat, ...] = ("graph-json", "graph-csv", "admin-csv")

COLUMNS: tuple[str, ...] = (
    "call_id",
    "line",
    "start",
    "start_s",
    "duration_s",
    "call_type",
    "number_type",
    "usage_country",
    "dest_country",
    "licence",
    "charge_micros",
    "connection_charge_micros",
    "currency",
    "context",
    "user",
    "conference_id",
)
"""Columns of the normalised call table (``line``: CSV line or JSON record number)."""
PERSONAL_COLUMNS: tuple[str, ...] = ("display_name", "upn", "caller_number", "callee_number")
"""Extra columns kept only with ``keep_personal_data``."""

INBOUND_TYPES = frozenset({CallType.USER_IN, CallType.CONF_IN, CallType.UCAP_IN})
"""Call types whose called number is the tenant's own (user, bridge or service number)."""

# -- countries -----------------------------------------------------------------------------
# ISO 3166-1 alpha-2 | alpha-3 | English name | calling-code prefixes (E.164 digits; the first
# listed country wins a shared prefix, longer prefixes win over shorter ones).
_COUNTRY_TABLE = """
AD|AND|Andorra|376
AE|ARE|United Arab Emirates|971
AF|AFG|Afghanistan|93
AG|ATG|Antigua and Barbuda|1268
AI|AIA|Anguilla|1264
AL|ALB|Albania|355
AM|ARM|Armenia|374
AO|AGO|Angola|244
AR|ARG|Argentina|54
AS|ASM|American Samoa|1684
AT|AUT|Austria|43
AU|AUS|Australia|61
AW|ABW|Aruba|297
AZ|AZE|Azerbaijan|994
BA|BIH|Bosnia and Herzegovina|387
BB|BRB|Barbados|1246
BD|BGD|Bangladesh|880
BE|BEL|Belgium|32
BF|BFA|Burkina Faso|226
BG|BGR|Bulgaria|359
BH|BHR|Bahrain|973
BI|BDI|Burundi|257
BJ|BEN|Benin|229
BM|BMU|Bermuda|1441
BN|BRN|Brunei|673
BO|BOL|Bolivia|591
BR|BRA|Brazil|55
BS|BHS|Bahamas|1242
BT|BTN|Bhutan|975
BW|BWA|Botswana|267
BY|BLR|Belarus|375
BZ|BLZ|Belize|501
CA|CAN|Canada|1204 1226 1236 1249 1250 1263 1289 1306 1343 1354 1365 1367 1368 1382 1387
CA|||1403 1416 1418
CA|||1428 1431 1437 1438 1450 1468 1474 1506 1514 1519 1548 1579 1581 1584 1587 1604 1613 1639
CA|||1647 1672 1683 1705 1709 1742 1753 1778 1780 1782 1807 1819 1825 1867 1873 1879 1902 1905
CD|COD|Democratic Republic of the Congo|243
CF|CAF|Central African Republic|236
CG|COG|Congo|242
CH|CHE|Switzerland|41
CI|CIV|Cote d'Ivoire|225
CK|COK|Cook Islands|682
CL|CHL|Chile|56
CM|CMR|Cameroon|237
CN|CHN|China|86
CO|COL|Colombia|57
CR|CRI|Costa Rica|506
CU|CUB|Cuba|53
CV|CPV|Cabo Verde|238
CW|CUW|Curacao|599
CY|CYP|Cyprus|357
CZ|CZE|Czech Republic|420
DE|DEU|Germany|49
DJ|DJI|Djibouti|253
DK|DNK|Denmark|45
DM|DMA|Dominica|1767
DO|DOM|Dominican Republic|1809 1829 1849
DZ|DZA|Algeria|213
EC|ECU|Ecuador|593
EE|EST|Estonia|372
EG|EGY|Egypt|20
ER|ERI|Eritrea|291
ES|ESP|Spain|34
ET|ETH|Ethiopia|251
FI|FIN|Finland|358
FJ|FJI|Fiji|679
FK|FLK|Falkland Islands|500
FM|FSM|Micronesia|691
FO|FRO|Faroe Islands|298
FR|FRA|France|33
GA|GAB|Gabon|241
GB|GBR|United Kingdom|44
GD|GRD|Grenada|1473
GE|GEO|Georgia|995
GF|GUF|French Guiana|594
GG|GGY|Guernsey|441481
GH|GHA|Ghana|233
GI|GIB|Gibraltar|350
GL|GRL|Greenland|299
GM|GMB|Gambia|220
GN|GIN|Guinea|224
GP|GLP|Guadeloupe|590
GQ|GNQ|Equatorial Guinea|240
GR|GRC|Greece|30
GT|GTM|Guatemala|502
GU|GUM|Guam|1671
GW|GNB|Guinea-Bissau|245
GY|GUY|Guyana|592
HK|HKG|Hong Kong|852
HN|HND|Honduras|504
HR|HRV|Croatia|385
HT|HTI|Haiti|509
HU|HUN|Hungary|36
ID|IDN|Indonesia|62
IE|IRL|Ireland|353
IL|ISR|Israel|972
IM|IMN|Isle of Man|441624
IN|IND|India|91
IQ|IRQ|Iraq|964
IR|IRN|Iran|98
IS|ISL|Iceland|354
IT|ITA|Italy|39
JE|JEY|Jersey|441534
JM|JAM|Jamaica|1876 1658
JO|JOR|Jordan|962
JP|JPN|Japan|81
KE|KEN|Kenya|254
KG|KGZ|Kyrgyzstan|996
KH|KHM|Cambodia|855
KI|KIR|Kiribati|686
KM|COM|Comoros|269
KN|KNA|Saint Kitts and Nevis|1869
KP|PRK|North Korea|850
KR|KOR|South Korea|82
KW|KWT|Kuwait|965
KY|CYM|Cayman Islands|1345
KZ|KAZ|Kazakhstan|76 77
LA|LAO|Laos|856
LB|LBN|Lebanon|961
LC|LCA|Saint Lucia|1758
LI|LIE|Liechtenstein|423
LK|LKA|Sri Lanka|94
LR|LBR|Liberia|231
LS|LSO|Lesotho|266
LT|LTU|Lithuania|370
LU|LUX|Luxembourg|352
LV|LVA|Latvia|371
LY|LBY|Libya|218
MA|MAR|Morocco|212
MC|MCO|Monaco|377
MD|MDA|Moldova|373
ME|MNE|Montenegro|382
MG|MDG|Madagascar|261
MH|MHL|Marshall Islands|692
MK|MKD|North Macedonia|389
ML|MLI|Mali|223
MM|MMR|Myanmar|95
MN|MNG|Mongolia|976
MO|MAC|Macao|853
MP|MNP|Northern Mariana Islands|1670
MQ|MTQ|Martinique|596
MR|MRT|Mauritania|222
MS|MSR|Montserrat|1664
MT|MLT|Malta|356
MU|MUS|Mauritius|230
MV|MDV|Maldives|960
MW|MWI|Malawi|265
MX|MEX|Mexico|52
MY|MYS|Malaysia|60
MZ|MOZ|Mozambique|258
NA|NAM|Namibia|264
NC|NCL|New Caledonia|687
NE|NER|Niger|227
NG|NGA|Nigeria|234
NI|NIC|Nicaragua|505
NL|NLD|Netherlands|31
NO|NOR|Norway|47
NP|NPL|Nepal|977
NR|NRU|Nauru|674
NU|NIU|Niue|683
NZ|NZL|New Zealand|64
OM|OMN|Oman|968
PA|PAN|Panama|507
PE|PER|Peru|51
PF|PYF|French Polynesia|689
PG|PNG|Papua New Guinea|675
PH|PHL|Philippines|63
PK|PAK|Pakistan|92
PL|POL|Poland|48
PM|SPM|Saint Pierre and Miquelon|508
PR|PRI|Puerto Rico|1787 1939
PS|PSE|Palestine|970
PT|PRT|Portugal|351
PW|PLW|Palau|680
PY|PRY|Paraguay|595
QA|QAT|Qatar|974
RE|REU|Reunion|262
RO|ROU|Romania|40
RS|SRB|Serbia|381
RU|RUS|Russia|7
RW|RWA|Rwanda|250
SA|SAU|Saudi Arabia|966
SB|SLB|Solomon Islands|677
SC|SYC|Seychelles|248
SD|SDN|Sudan|249
SE|SWE|Sweden|46
SG|SGP|Singapore|65
SH|SHN|Saint Helena|290
SI|SVN|Slovenia|386
SK|SVK|Slovakia|421
SL|SLE|Sierra Leone|232
SM|SMR|San Marino|378
SN|SEN|Senegal|221
SO|SOM|Somalia|252
SR|SUR|Suriname|597
SS|SSD|South Sudan|211
SV|SLV|El Salvador|503
SX|SXM|Sint Maarten|1721
SY|SYR|Syria|963
SZ|SWZ|Eswatini|268
TC|TCA|Turks and Caicos Islands|1649
TD|TCD|Chad|235
TG|TGO|Togo|228
TH|THA|Thailand|66
TJ|TJK|Tajikistan|992
TL|TLS|Timor-Leste|670
TM|TKM|Turkmenistan|993
TN|TUN|Tunisia|216
TO|TON|Tonga|676
TR|TUR|Turkiye|90
TT|TTO|Trinidad and Tobago|1868
TV|TUV|Tuvalu|688
TW|TWN|Taiwan|886
TZ|TZA|Tanzania|255
UA|UKR|Ukraine|380
UG|UGA|Uganda|256
US|USA|United States|1
UY|URY|Uruguay|598
UZ|UZB|Uzbekistan|998
VA|VAT|Vatican City|379
VC|VCT|Saint Vincent and the Grenadines|1784
VE|VEN|Venezuela|58
VG|VGB|British Virgin Islands|1284
VI|VIR|United States Virgin Islands|1340
VN|VNM|Vietnam|84
VU|VUT|Vanuatu|678
WF|WLF|Wallis and Futuna|681
WS|WSM|Samoa|685
XK|XKX|Kosovo|383
YE|YEM|Yemen|967
ZA|ZAF|South Africa|27
ZM|ZMB|Zambia|260
ZW|ZWE|Zimbabwe|263
"""

_NAME_ALIASES = {
    "unitedstatesofamerica": "US",
    "usa": "US",
    "uk": "GB",
    "greatbritain": "GB",
    "unitedkingdomofgreatbritainandnorthernireland": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northernireland": "GB",
    "korea": "KR",
    "korearepublicof": "KR",
    "republicofkorea": "KR",
    "koreasouth": "KR",
    "koreademocraticpeoplesrepublicof": "KP",
    "russianfederation": "RU",
    "czechia": "CZ",
    "slovakrepublic": "SK",
    "hongkongsar": "HK",
    "hongkongsarchina": "HK",
    "hongkongchina": "HK",
    "macau": "MO",
    "macaosar": "MO",
    "macausar": "MO",
    "taiwanprovinceofchina": "TW",
    "taiwanroc": "TW",
    "turkey": "TR",
    "iranislamicrepublicof": "IR",
    "syrianarabrepublic": "SY",
    "laopeoplesdemocraticrepublic": "LA",
    "republicofmoldova": "MD",
    "moldovarepublicof": "MD",
    "unitedrepublicoftanzania": "TZ",
    "tanzaniaunitedrepublicof": "TZ",
    "boliviaplurinationalstateof": "BO",
    "venezuelabolivarianrepublicof": "VE",
    "ivorycoast": "CI",
    "capeverde": "CV",
    "swaziland": "SZ",
    "macedonia": "MK",
    "formeryugoslavrepublicofmacedonia": "MK",
    "burma": "MM",
    "republicofthecongo": "CG",
    "congobrazzaville": "CG",
    "congokinshasa": "CD",
    "drcongo": "CD",
    "congothedemocraticrepublicofthe": "CD",
    "congodemocraticrepublic": "CD",
    "palestinianterritories": "PS",
    "stateofpalestine": "PS",
    "bruneidarussalam": "BN",
    "uae": "AE",
    "thenetherlands": "NL",
    "holland": "NL",
    "thebahamas": "BS",
    "thegambia": "GM",
    "micronesiafederatedstatesof": "FM",
    "holysee": "VA",
    "vatican": "VA",
    "stkittsandnevis": "KN",
    "stlucia": "LC",
    "stvincentandthegrenadines": "VC",
    "vietnam": "VN",
    "usvirginislands": "VI",
    "virginislandsus": "VI",
    "virginislandsbritish": "VG",
    "easttimor": "TL",
    "reunionisland": "RE",
    "mainlandchina": "CN",
    "peoplesrepublicofchina": "CN",
}
_CODE_HINTS = {"UK": "GB", "EL": "GR"}


def _norm_name(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]", "", plain.casefold().replace("&", "and"))


def _load_countries() -> tuple[
    dict[str, str], dict[str, str], dict[str, str], dict[str, str], dict[str, str]
]:
    names: dict[str, str] = {}
    by_name: dict[str, str] = {}
    alpha3: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    first_prefix: dict[str, str] = {}
    for line in _COUNTRY_TABLE.strip().splitlines():
        code, a3, name, codes = line.split("|")
        if name:  # "CODE|||prefixes" continues the previous line's prefixes
            names[code] = name
            by_name[_norm_name(name)] = code
            alpha3[a3] = code
        for p in codes.split():
            prefixes.setdefault(p, code)
            first_prefix.setdefault(code, p)
    by_name.update(_NAME_ALIASES)
    return names, by_name, alpha3, prefixes, first_prefix


COUNTRY_NAMES, _BY_NAME, _ALPHA3, CALLING_PREFIXES, _FIRST_PREFIX = _load_countries()
"""``COUNTRY_NAMES``: alpha-2 -> English name; ``CALLING_PREFIXES``: E.164 prefix -> alpha-2."""
_MAX_PREFIX = max(len(p) for p in CALLING_PREFIXES)


def country_code(text: str | None) -> str | None:
    """Return the ISO alpha-2 code of a country code (alpha-2 or -3) or name, or None."""
    if not text:
        return None
    s = text.strip()
    if len(s) == 2 and s.isalpha():
        code = _CODE_HINTS.get(s.upper(), s.upper())
        return code if code in COUNTRY_NAMES else None
    if len(s) == 3 and s.isalpha() and s.upper() in _ALPHA3:
        return _ALPHA3[s.upper()]
    return _BY_NAME.get(_norm_name(s))


def country_name(code: str) -> str:
    """Return the English name of an alpha-2 code (the code itself if unknown)."""
    return COUNTRY_NAMES.get(code, code)


def calling_prefix(code: str) -> str:
    """Return the E.164 prefix (digits) of a country's numbers, e.g. ``44`` for GB."""
    return _FIRST_PREFIX[code]


# -- numbers -------------------------------------------------------------------------------
# Called-number patterns by E.164 prefix. Premium: UK shared-cost 843/844/845/870/871/872
# (teams-credits.md §2.2) and 9xx premium rate; other well-known premium and shared-cost
# ranges. Toll-free: well-known freephone ranges. Used for outbound calls (premium) and as a
# fallback for inbound ones (toll-free) when the log's number type is empty.
PREMIUM_PREFIXES: tuple[str, ...] = (
    "44843", "44844", "44845", "44870", "44871", "44872", "449",
    "1900", "1976",
    "49900", "49137",
    "3381", "3382", "3389",
    "31900", "31906", "31909",
    "34803", "34806", "34807", "34905",
    "39892", "39899",
    "61190",
)  # fmt: skip
TOLL_FREE_PREFIXES: tuple[str, ...] = (
    "1800", "1833", "1844", "1855", "1866", "1877", "1888",
    "44800", "44808",
    "49800",
    "3380",
    "31800",
    "34800", "34900",
    "39800", "39803",
    "3531800",
    "611800",
    "81120", "81800",
    "911800",
    "52800",
)  # fmt: skip
_PREMIUM_RE = re.compile("|".join(PREMIUM_PREFIXES))
_TOLL_FREE_RE = re.compile("|".join(TOLL_FREE_PREFIXES))
_NON_DIGIT_RE = re.compile(r"[^0-9]")


def e164_digits(number: str | None) -> str | None:
    """Return the digits of an international number (``+CC...`` or ``00CC...``), or None.

    National formats (without a country code) are not guessed at.
    """
    if not number:
        return None
    if number[0] == "+" and number[1:].isdigit():  # the usual E.164 form, fast
        return number[1:] if len(number) >= 5 else None
    s = number.strip()
    if s.lower().startswith("tel:"):
        s = s[4:]
    if s.startswith("+"):
        digits = _NON_DIGIT_RE.sub("", s)
    elif s.startswith("00"):
        digits = _NON_DIGIT_RE.sub("", s)[2:]
    else:
        return None
    return digits if len(digits) >= 4 else None


def number_country(digits: str | None) -> str | None:
    """Return the country of an E.164 number's digits by its longest known prefix."""
    if not digits:
        return None
    for n in range(min(_MAX_PREFIX, len(digits)), 0, -1):
        code = CALLING_PREFIXES.get(digits[:n])
        if code is not None:
            return code
    return None


def number_kind(digits: str | None) -> NumberType | None:
    """Return ``premium`` or ``toll_free`` for numbers in those ranges, else None."""
    if not digits:
        return None
    if _PREMIUM_RE.match(digits):
        return NumberType.PREMIUM
    if _TOLL_FREE_RE.match(digits):
        return NumberType.TOLL_FREE
    return None


# -- call types and licences ------------------------------------------------------------------
_CT_CODE = {ct.value: i for i, ct in enumerate(CallType)}
_SKIP_TYPES = {
    "emergency_out": "emergency call (free; not modelled)",
    "user_out_emergency": "emergency call (free; not modelled)",
}
CALL_TYPE_SKIPS: dict[str, str] = dict(_SKIP_TYPES)
"""Known call types outside the model, with why they are skipped (``dr_*``: Direct Routing)."""

_UNKNOWN = -1
_SKIP_EMERGENCY = -2
_SKIP_DIRECT_ROUTING = -3
_MISSING = -9


def _call_type_code(text: str) -> int:
    t = text.strip().lower().replace("-", "_").replace(" ", "_")
    if t in _CT_CODE:
        return _CT_CODE[t]
    if t in _SKIP_TYPES or t.endswith("emergency_out"):
        return _SKIP_EMERGENCY
    if t.startswith("dr_"):
        return _SKIP_DIRECT_ROUTING
    return _UNKNOWN


PLAN_OF_CAPABILITY: dict[str, str] = {
    code: plan.name for plan in CALLING_PLANS.values() for code in plan.licence_codes
}
"""Calling-plan licence capability -> ccsim plan (``MCOPSTN1`` -> ``domestic``, ...)."""
PLAN_OF_CAPABILITY.update({"MCOPSTNPP": "payg", "MCOPSTNC": "payg"})
CONFERENCING_OF_CAPABILITY: dict[str, str] = {
    c.licence_code: c.name
    for c in CONFERENCING.values()
    if c.licence_code is not None and c.name != "complimentary"
}
"""Audio Conferencing capability -> ccsim conferencing (``MCOMEETADD`` -> ``standard``)."""
CAPABILITY_OF_PLAN: dict[str, str] = {
    name: plan.licence_codes[0] if plan.licence_codes else "MCOPSTNPP"
    for name, plan in CALLING_PLANS.items()
    if plan.outbound
}
"""ccsim plan -> the capability a log shows for its calls (PAYG: Communications Credits)."""
CAPABILITY_OF_CONFERENCING: dict[str, str] = {
    c.name: c.licence_code for c in CONFERENCING.values() if c.licence_code is not None
}


# -- pseudonyms ----------------------------------------------------------------------------


class Pseudonymiser:
    """Replace identifiers with keyed hashes: ``u-`` + 16 hex digits of HMAC-SHA256.

    The same salt gives the same pseudonym to the same identifier, so imports made with
    one salt can be joined; without the salt the pseudonyms cannot be reversed by trying
    likely names or numbers. A fresh random salt is used when none is given.
    """

    def __init__(self, salt: str | bytes | None = None) -> None:
        if salt is None:
            key = secrets.token_bytes(32)
        elif isinstance(salt, str):
            key = salt.encode("utf-8")
        else:
            key = salt
        self._key = key
        self._cache: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        """Return the pseudonym of ``value`` (empty stays empty)."""
        if not value:
            return ""
        out = self._cache.get(value)
        if out is None:
            digest = hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()
            out = "u-" + digest[:16]
            if len(self._cache) > 500_000:
                self._cache.clear()
            self._cache[value] = out
        return out


# -- options and report ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to read a call log.

    ``format``: ``auto`` or one of ``FORMATS``; ``strict``: the first bad row is an
    ``InputError``; ``salt``: key of the pseudonyms (random when None);
    ``keep_personal_data``: keep names, UPNs and numbers in clear; ``origin``: instant of
    ``start_s = 0`` (default: 00:00 UTC on the day of the first valid row);
    ``chunk_rows``: rows converted at once; ``keep_bad_rows``: bad rows listed in the
    report (all are counted).
    """

    format: LogFormat | Literal["auto"] = "auto"
    strict: bool = False
    salt: str | bytes | None = None
    keep_personal_data: bool = False
    origin: datetime | None = None
    chunk_rows: int = 50_000
    keep_bad_rows: int = 1_000
    read_chars: int = 1 << 20


@dataclass(frozen=True, slots=True)
class BadRow:
    """One row that could not be imported: where (``line 7``, ``record 3``), field, why."""

    where: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.reason}"


@dataclass
class ImportReport:
    """What an import read: counts of imported, bad and skipped rows, with reasons."""

    path: str
    format: str = ""
    rows: int = 0
    imported: int = 0
    bad: int = 0
    skipped: int = 0
    bad_by_reason: Counter[str] = field(default_factory=Counter)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    bad_rows: list[BadRow] = field(default_factory=list)
    origin: datetime | None = None
    first_start: datetime | None = None
    last_start: datetime | None = None
    call_types: Counter[str] = field(default_factory=Counter)
    currencies: Counter[str] = field(default_factory=Counter)
    keep_bad_rows: int = 1_000

    def add_bad(self, row: BadRow, count_reason: str) -> None:
        """Count a bad row and keep it for the listing if there is room."""
        self.bad += 1
        self.bad_by_reason[count_reason] += 1
        if len(self.bad_rows) < self.keep_bad_rows:
            self.bad_rows.append(row)

    def lines(self, show: int = 10) -> list[str]:
        """Return a short human-readable summary."""
        out = [
            f"{self.path}: {self.format}, {self.rows:,} rows: {self.imported:,} imported, "
            f"{self.bad:,} bad, {self.skipped:,} skipped"
        ]
        if self.first_start is not None and self.last_start is not None:
            out.append(
                f"  calls from {self.first_start.isoformat(timespec='seconds')} to "
                f"{self.last_start.isoformat(timespec='seconds')} (UTC)"
            )
        if self.call_types:
            kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(self.call_types.items()))
            out.append(f"  call types: {kinds}")
        for reason, n in self.skipped_by_reason.most_common():
            out.append(f"  skipped {n:,}: {reason}")
        for reason, n in self.bad_by_reason.most_common():
            out.append(f"  bad {n:,}: {reason}")
        for row in self.bad_rows[:show]:
            out.append(f"    {self.path}: {row}")
        if self.bad > show:
            out.append(f"    ... {self.bad - show:,} more bad rows")
        return out

    def bad_rows_frame(self) -> pd.DataFrame:
        """Return the listed bad rows as a table (where, field, reason)."""
        return pd.DataFrame(
            {
                "where": [r.where for r in self.bad_rows],
                "field": [r.field for r in self.bad_rows],
                "reason": [r.reason for r in self.bad_rows],
            },
            columns=["where", "field", "reason"],
        )


# -- opening files and detecting the format ------------------------------------------------


def _open_binary(path: Path) -> IO[bytes]:
    """Open a log as bytes, through gzip or the PSTN member of a zip export."""
    try:
        raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a call log file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    magic = raw.read(4)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if magic == b"PK\x03\x04":
        archive = zipfile.ZipFile(raw)
        members = [n for n in archive.namelist() if n.lower().endswith((".csv", ".json"))]
        pstn = [n for n in members if Path(n).name.lower().startswith("pstn")]
        chosen = pstn if pstn else members
        if len(chosen) != 1:
            listed = ", ".join(archive.namelist()) or "nothing"
            raise InputError(
                f"{path}: zip archive: expected one PSTN.calls*.csv (or a single .csv/.json) "
                f"member, found {listed}"
            )
        return archive.open(chosen[0])
    return raw


def _text(binary: IO[bytes]) -> io.TextIOWrapper:
    """Wrap bytes as text, honouring a UTF-8 or UTF-16 byte-order mark."""
    buffered = cast(
        io.BufferedReader,
        binary if hasattr(binary, "peek") else io.BufferedReader(cast(Any, binary)),
    )
    head = buffered.peek(4)[:4]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return io.TextIOWrapper(buffered, encoding="utf-16", newline="")
    return io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")


def _norm_header(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


_GRAPH_FIELDS: dict[str, str] = {
    "callType": "call_type",
    "startDateTime": "start",
    "endDateTime": "end",
    "duration": "duration",
    "charge": "charge",
    "connectionCharge": "connection_charge",
    "currency": "currency",
    "destinationContext": "context",
    "destinationName": "dest_name",
    "usageCountryCode": "usage_country",
    "tenantCountryCode": "tenant_country",
    "licenseCapability": "licence",
    "inventoryType": "inventory",
    "userPrincipalName": "upn",
    "userId": "user_id",
    "userDisplayName": "display_name",
    "conferenceId": "conference_id",
    "callerNumber": "caller",
    "calleeNumber": "callee",
    "callId": "call_id",
    "id": "row_id",
}
_GRAPH_HEADERS = {_norm_header(k): v for k, v in _GRAPH_FIELDS.items()}
# Admin-center column names (the online table's and the zipped export's), normalised.
_ADMIN_HEADERS: dict[str, str] = {
    "timestamputc": "start",
    "timestamp": "start",
    "starttime": "start",
    "starttimeutc": "start",
    "endtime": "end",
    "endtimeutc": "end",
    "displayname": "display_name",
    "userdisplayname": "display_name",
    "username": "upn",
    "upn": "upn",
    "aadobjectid": "user_id",
    "phonenumber": "phone",
    "calltype": "call_type",
    "calledto": "callee",
    "destinationnumber": "callee",
    "tocountryorregion": "dest_name",
    "destinationdialed": "dest_name",
    "calledfrom": "caller",
    "callerid": "caller",
    "fromcountryorregion": "from_country",
    "charge": "charge",
    "connectionfee": "connection_charge",
    "currency": "currency",
    "duration": "duration",
    "durationseconds": "duration",
    "domesticinternational": "context",
    "callid": "call_id",
    "usageid": "row_id",
    "numbertype": "inventory",
    "countryorregion": "usage_country",
    "userlocation": "usage_country",
    "conferenceid": "conference_id",
    "capability": "licence",
}
_REQUIRED_COLUMNS = ("start", "call_type", "duration", "charge")
_COLUMN_LABELS = {
    "graph-csv": {
        "start": "startDateTime",
        "call_type": "callType",
        "duration": "duration",
        "charge": "charge",
    },
    "admin-csv": {
        "start": "Time stamp (UTC)",
        "call_type": "Call type",
        "duration": "Duration",
        "charge": "Charge",
    },
}


def _csv_header(first_line: str) -> tuple[list[str], str]:
    delimiter = ","
    if first_line.count(";") > first_line.count(","):
        delimiter = ";"
    elif first_line.count("\t") > first_line.count(","):
        delimiter = "\t"
    header = next(csv.reader([first_line], delimiter=delimiter), [])
    return header, delimiter


def detect_format(path: str | Path) -> LogFormat:
    """Tell the format of a call log from its first character or its header line."""
    p = Path(path)
    with _open_binary(p) as binary, _text(binary) as text:
        head = text.read(65536)
    stripped = head.lstrip()
    if not stripped:
        raise InputError(f"{p}: empty file, expected a PSTN call log")
    if stripped[0] in "{[":
        return "graph-json"
    first = stripped.splitlines()[0]
    header, _ = _csv_header(first)
    return _csv_format(p, {_norm_header(h) for h in header}, header)


def _csv_format(path: Path, names: set[str], header: Sequence[str]) -> LogFormat:
    if "startdatetime" in names or ("calltype" in names and "usagecountrycode" in names):
        return "graph-csv"
    if names & {k for k, v in _ADMIN_HEADERS.items() if v == "start"}:
        return "admin-csv"
    shown = ", ".join(repr(h) for h in header[:8]) or "nothing"
    raise InputError(
        f"{path}: line 1: cannot tell the call-log format from the header ({shown}); expected "
        "Graph getPstnCalls JSON, a CSV with pstnCallLogRow fields (startDateTime, callType, "
        "...) or the Teams admin center PSTN usage export (Time stamp (UTC), Call type, ...); "
        "or give --format"
    )


# -- reading rows --------------------------------------------------------------------------

_RawChunk = tuple[Mapping[str, Sequence[Any]], list[int]]


class JsonNumber(str):
    """A JSON number kept as its literal text (so that charges stay exact decimals)."""


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, JsonNumber):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


class _JsonRows:
    """Stream the rows of Graph ``getPstnCalls`` JSON, one object at a time.

    Accepts one page ``{"value": [...], ...}``, pages one after the other, or a JSON array
    of pages or of rows. Values are decoded with ``raw_decode`` from a text buffer that is
    refilled as needed; numbers are kept as their literal text (exact charges).
    """

    _WS = re.compile(r"[ \t\n\r]*")
    _MAX_RECORD_CHARS = 4 << 20
    _NUMBER_LOOKAHEAD = 64

    def __init__(self, text: IO[str], path: Path, read_chars: int) -> None:
        self._text = text
        self._path = path
        self._read = read_chars
        self._buf = ""
        self._pos = 0
        self._offset = 0  # characters dropped from the front of the buffer
        self._eof = False
        self._decoder = json.JSONDecoder(parse_float=JsonNumber, parse_int=JsonNumber)
        self.record = 0
        self.pages = 0

    # -- buffer ------------------------------------------------------------------------
    def _fill(self, at_least: int = 0) -> bool:
        """Read more text (``at_least`` characters, if more than the chunk size)."""
        if self._eof:
            return False
        data = self._text.read(max(self._read, at_least))
        if not data:
            self._eof = True
            return False
        if self._pos:
            self._offset += self._pos
            self._buf = self._buf[self._pos :]
            self._pos = 0
        self._buf += data
        return True

    def _peek(self) -> str | None:
        while True:
            m = self._WS.match(self._buf, self._pos)
            assert m is not None
            self._pos = m.end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return None

    def _error(self, what: str) -> InputError:
        where = f"record {self.record + 1}" if self.pages else "top level"
        return InputError(
            f"{self._path}: {where} (character {self._offset + self._pos + 1}): malformed "
            f'JSON: {what}; expected Graph getPstnCalls pages {{"value": [...]}}'
        )

    def _expect(self, char: str) -> None:
        c = self._peek()
        if c != char:
            found = "end of file" if c is None else repr(c)
            raise self._error(f"expected {char!r}, found {found}")
        self._pos += 1

    def _decode(self) -> Any:
        if self._peek() is None:
            raise self._error("unexpected end of file")
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                # Perhaps cut short by the end of the buffer: read as much again (so a
                # long value takes a logarithmic number of attempts) and retry.
                pending = len(self._buf) - self._pos
                if pending > self._MAX_RECORD_CHARS or not self._fill(at_least=pending):
                    raise self._error(exc.msg) from None
                continue
            if (
                isinstance(value, JsonNumber)
                and len(self._buf) - end < self._NUMBER_LOOKAHEAD
                and self._fill()
            ):
                continue  # a number ("0" of "0.25") may go on in the next chunk
            self._pos = end
            return value

    # -- structure ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[int, Any]]:
        while True:
            c = self._peek()
            if c is None:
                return
            if c == "{":
                yield from self._object()
            elif c == "[":
                self._pos += 1
                if self._peek() == "]":
                    self._pos += 1
                    continue
                while True:
                    if self._peek() == "{":
                        yield from self._object()
                    else:
                        self.pages += 1
                        self.record += 1
                        yield self.record, self._decode()
                    c = self._peek()
                    if c == ",":
                        self._pos += 1
                    elif c == "]":
                        self._pos += 1
                        break
                    else:
                        raise self._error(f"expected ',' or ']', found {c!r}")
            else:
                raise self._error(f"expected '{{' or '[', found {c!r}")

    def _object(self) -> Iterator[tuple[int, Any]]:
        """Read one object: a page (stream its ``value`` rows) or a row itself."""
        self._expect("{")
        self.pages += 1
        fields: dict[str, Any] = {}
        paged = False
        if self._peek() == "}":
            self._pos += 1
        else:
            while True:
                if self._peek() != '"':
                    raise self._error("expected a quoted key")
                key = self._decode()
                self._expect(":")
                if key == "value" and self._peek() == "[":
                    paged = True
                    yield from self._rows()
                else:
                    fields[key] = self._decode()
                c = self._peek()
                if c == ",":
                    self._pos += 1
                elif c == "}":
                    self._pos += 1
                    break
                else:
                    found = "end of file" if c is None else repr(c)
                    raise self._error(f"expected ',' or '}}', found {found}")
        if not paged:
            self.record += 1
            yield self.record, fields

    def _rows(self) -> Iterator[tuple[int, Any]]:
        self._expect("[")
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            row = self._decode()
            self.record += 1
            yield self.record, row
            c = self._peek()
            if c == ",":
                self._pos += 1
            elif c == "]":
                self._pos += 1
                return
            else:
                found = "end of file" if c is None else repr(c)
                raise self._error(f"expected ',' or ']' after a row, found {found}")


def _json_chunks(
    text: IO[str], path: Path, options: ImportOptions, report: ImportReport
) -> Iterator[_RawChunk]:
    keys = list(_GRAPH_FIELDS.items())
    cols: dict[str, list[Any]] = {v: [] for _, v in keys}
    where: list[int] = []
    reader = _JsonRows(text, path, options.read_chars)
    for record, row in reader:
        report.rows += 1
        if not isinstance(row, dict):
            kind = _json_type(row)
            _bad(
                report, options, path, f"record {record}", "row", f"expected an object, got {kind}"
            )
            continue
        if not any(k in row for k, _ in keys):
            shown = ", ".join(list(row)[:5]) or "no keys"
            _bad(
                report,
                options,
                path,
                f"record {record}",
                "row",
                f"not a pstnCallLogRow (keys: {shown})",
            )
            continue
        for k, v in keys:
            cols[v].append(row.get(k))
        where.append(record)
        if len(where) >= options.chunk_rows:
            yield cols, where
            cols = {v: [] for _, v in keys}
            where = []
    if where:
        yield cols, where


def _csv_chunks(
    text: IO[str], path: Path, fmt: LogFormat, options: ImportOptions, report: ImportReport
) -> Iterator[_RawChunk]:
    first = text.readline()
    if not first.strip():
        raise InputError(f"{path}: line 1: empty header, expected CSV column names")
    header, delimiter = _csv_header(first)
    names = [_norm_header(h) for h in header]
    table = _GRAPH_HEADERS if fmt == "graph-csv" else _ADMIN_HEADERS
    index: dict[str, int] = {}
    for i, n in enumerate(names):
        canon = table.get(n)
        if canon is not None and canon not in index:
            index[canon] = i
    missing = [c for c in _REQUIRED_COLUMNS if c not in index]
    if missing:
        labels = _COLUMN_LABELS[fmt]
        shown = ", ".join(repr(h) for h in header)
        raise InputError(
            f"{path}: line 1: {fmt}: missing column {labels[missing[0]]!r} (found: {shown})"
        )
    width = len(header)
    reader = csv.reader(text, delimiter=delimiter)
    fields = list(index)
    positions = [index[f] for f in fields]
    rows: list[list[str]] = []
    where: list[int] = []
    chunk_rows = options.chunk_rows
    seen = 0
    for row in reader:
        if len(row) != width:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line is no row
            seen += 1
            line = reader.line_num + 1  # the header line was read before the reader
            why = f"expected {width} fields as in the header, got {len(row)}"
            _bad(report, options, path, f"line {line}", "row", why)
            continue
        seen += 1
        rows.append(row)
        where.append(reader.line_num + 1)
        if len(rows) >= chunk_rows:
            report.rows += seen
            seen = 0
            yield _transpose(rows, fields, positions), where
            rows, where = [], []
    report.rows += seen
    if rows:
        yield _transpose(rows, fields, positions), where


def _transpose(rows: list[list[str]], fields: list[str], positions: list[int]) -> dict[str, Any]:
    columns = list(zip(*rows, strict=True))
    return {f: columns[p] for f, p in zip(fields, positions, strict=True)}


def _bad(
    report: ImportReport, options: ImportOptions, path: Path, where: str, fld: str, reason: str
) -> None:
    row = BadRow(where, fld, reason)
    if options.strict:
        raise InputError(f"{path}: {row} (strict import: fix or remove the row)")
    report.add_bad(row, f"{fld}: {_reason_kind(reason)}")


def _reason_kind(reason: str) -> str:
    """Return the reason without the offending value, for counting."""
    kind = reason.split(", got ")[0]
    kind = re.sub(r"\s*\(.*\)$", "", re.sub(r"\s*'[^']*'", "", kind))
    return kind.strip() or reason


# -- converting a chunk ----------------------------------------------------------------------

_NUMBER_RE = re.compile(r"^\s*([+-]?)(\d*)(?:\.(\d*))?\s*$")


def parse_amount(text: str) -> int:
    """Read a decimal amount (``"0.066"``, ``"1E-2"``) into exact micro-units.

    Raise ValueError with the reason for text that is not a number, is finer than a
    micro-unit, or is negative.
    """
    m = _NUMBER_RE.match(text)
    if m and (m.group(2) or m.group(3)):
        sign, whole, frac = m.group(1), m.group(2) or "0", m.group(3) or ""
        if len(frac) > 6:
            if frac[6:].strip("0"):
                raise ValueError(f"finer than a micro-unit, got {text!r}")
            frac = frac[:6]
        value = int(whole) * MICROS_PER_UNIT + int(frac.ljust(6, "0"))
        if sign == "-" and value:
            raise ValueError(f"negative amount, got {text!r}")
        return value
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount, got {text!r}") from None
    if not d.is_finite():
        raise ValueError(f"not a decimal amount, got {text!r}")
    scaled = d * MICROS_PER_UNIT
    if scaled != scaled.to_integral_value():
        raise ValueError(f"finer than a micro-unit, got {text!r}")
    if scaled < 0:
        raise ValueError(f"negative amount, got {text!r}")
    return int(scaled)


def parse_duration_s(text: str) -> float:
    """Read a call duration: seconds (``"219"``, ``"12.5"``) or ``[h:]mm:ss``.

    Raise ValueError for text that is neither, or for a negative duration.
    """
    s = text.strip()
    if ":" in s:
        parts = s.split(":")
        if len(parts) > 3 or not all(p.strip().replace(".", "", 1).isdigit() for p in parts):
            raise ValueError(f"not a duration in seconds or h:mm:ss, got {text!r}")
        total = 0.0
        for p in parts:
            total = total * 60 + float(p)
        return total
    try:
        value = float(s)
    except ValueError:
        raise ValueError(f"not a duration in seconds or h:mm:ss, got {text!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"not a finite duration, got {text!r}")
    if value < 0:
        raise ValueError(f"negative duration, got {text!r}")
    return value


def _strings(values: Sequence[Any]) -> list[str]:
    """Return the values as stripped strings (None -> "", JSON numbers as their text)."""
    try:
        return list(map(str.strip, values))  # CSV fields, and JSON rows of strings
    except TypeError:
        pass
    out = []
    for v in values:
        if isinstance(v, str):
            out.append(v.strip())
        elif v is None:
            out.append("")
        elif isinstance(v, bool):
            out.append(str(v).lower())
        else:
            out.append(str(v).strip())
    return out


class _Converter:
    """Turn raw chunks into normalised call tables, keeping state across chunks."""

    def __init__(self, path: Path, options: ImportOptions, report: ImportReport) -> None:
        self.path = path
        self.options = options
        self.report = report
        self.kind = "record" if report.format == "graph-json" else "line"
        self.pseudonym: Callable[[str], str] = (
            (lambda s: s) if options.keep_personal_data else Pseudonymiser(options.salt)
        )
        self.origin = options.origin
        if self.origin is not None and self.origin.tzinfo is None:
            self.origin = self.origin.replace(tzinfo=UTC)
        report.origin = self.origin
        self._amounts: dict[str, int | str] = {}
        self._countries: dict[str, str | None] = {}
        self._types: dict[str, int] = {}

    def _amount(self, text: str) -> int | str:
        """Return micro-units, or the reason the text is not an amount."""
        out = self._amounts.get(text)
        if out is None:
            try:
                out = parse_amount(text)
            except ValueError as exc:
                out = str(exc)
            if len(self._amounts) < 100_000:
                self._amounts[text] = out
        return out

    def _country(self, text: str) -> str | None:
        try:
            return self._countries[text]
        except KeyError:
            code = self._countries[text] = country_code(text)
            return code

    def _type(self, text: str) -> int:
        try:
            return self._types[text]
        except KeyError:
            code = self._types[text] = _call_type_code(text) if text else _MISSING
            return code

    def convert(self, cols: Mapping[str, Sequence[Any]], where_list: list[int]) -> pd.DataFrame:
        """Convert one chunk of raw rows; count and report the bad and skipped ones."""
        n = len(where_list)
        get = {name: _strings(cols[name]) if name in cols else [""] * n for name in _ALL_FIELDS}
        reasons: dict[int, tuple[str, str]] = {}
        skips: dict[int, str] = {}
        ct = np.fromiter((self._type(t) for t in get["call_type"]), np.int64, n)
        for i in np.flatnonzero(ct < 0).tolist():
            t = get["call_type"][i]
            if ct[i] == _MISSING:
                reasons[i] = ("call_type", "missing")
            elif ct[i] == _SKIP_EMERGENCY:
                skips[i] = "emergency call (free; not modelled)"
            elif ct[i] == _SKIP_DIRECT_ROUTING:
                skips[i] = "Direct Routing call (not billed through Calling Plans or credits)"
            else:
                known = ", ".join(_CT_NAMES)
                reasons[i] = ("call_type", f"unknown call type {t!r} (known: {known})")
        start = pd.to_datetime(
            pd.Series(get["start"], dtype=object), format="ISO8601", utc=True, errors="coerce"
        )
        for i in np.flatnonzero(start.isna().to_numpy()).tolist():
            s = get["start"][i]
            why = "missing" if not s else f"not an ISO 8601 date-time, got {s!r}"
            reasons.setdefault(i, ("start", why))
        duration = pd.to_numeric(
            pd.Series(get["duration"], dtype=object), errors="coerce"
        ).to_numpy(dtype=np.float64, copy=True)
        for i in np.flatnonzero(~(duration >= 0) | ~np.isfinite(duration)).tolist():
            s = get["duration"][i]
            if not s:
                reasons.setdefault(i, ("duration", "missing"))
                continue
            try:
                value = parse_duration_s(s)
            except ValueError as exc:
                reasons.setdefault(i, ("duration", str(exc)))
                value = 0.0
            duration[i] = value
        charge = np.zeros(n, np.int64)
        conn = np.zeros(n, np.int64)
        for name, target, required in (
            ("charge", charge, True),
            ("connection_charge", conn, False),
        ):
            for i, s in enumerate(get[name]):
                if not s:
                    if required:
                        reasons.setdefault(i, (name, "missing"))
                    continue
                v = self._amount(s)
                if isinstance(v, str):
                    reasons.setdefault(i, (name, v))
                else:
                    target[i] = v
        usage: list[str] = [""] * n
        dest: list[str] = [""] * n
        number_type: list[str] = [""] * n
        user: list[str] = [""] * n
        callee_text = [c or p for c, p in zip(get["callee"], get["phone"], strict=True)]
        country = self._country
        pseudonym = self.pseudonym
        usage_text, dest_text, tenant_text = (
            get["usage_country"],
            get["dest_name"],
            get["tenant_country"],
        )
        inventory, caller = get["inventory"], get["caller"]
        ids, upns, names = get["user_id"], get["upn"], get["display_name"]
        tollfree_inventory: dict[str, bool] = {}
        for i, code in enumerate(ct.tolist()):
            digits = e164_digits(callee_text[i])
            u = country(usage_text[i])
            if u is None and code in _SERVICE_CODES:
                # Bots carry no user: the tenant's country, else the service number's.
                u = country(tenant_text[i]) or number_country(digits)
            if u is None:
                text = usage_text[i]
                why = "missing" if not text else f"unknown country or region {text!r}"
                reasons.setdefault(i, ("usage_country", why))
                u = ""
            usage[i] = u
            inbound = code in _INBOUND_CODES
            d = country(dest_text[i]) or number_country(digits)
            if d is None:
                if inbound and u:
                    d = u  # the tenant's own number: in the usage country by default
                else:
                    text = dest_text[i]
                    why = (
                        f"unknown country or region {text!r}"
                        if text
                        else "missing (no destination name and no +E.164 called number)"
                    )
                    reasons.setdefault(i, ("dest_country", why))
                    d = ""
            dest[i] = d
            kind = number_kind(digits)
            if inbound:
                inv = inventory[i]
                if inv:
                    tf = tollfree_inventory.get(inv)
                    if tf is None:
                        tf = tollfree_inventory[inv] = "tollfree" in _norm_header(inv)
                else:
                    tf = kind is NumberType.TOLL_FREE
                number_type[i] = "toll_free" if tf else "toll"
            else:
                number_type[i] = kind.value if kind is not None else "toll"
            ident = ids[i] or upns[i] or names[i]
            if not ident and code == _UCAP_IN:
                ident = callee_text[i]
            elif not ident and code == _UCAP_OUT:
                ident = caller[i]
            user[i] = pseudonym(ident.lower() if "@" in ident else ident)
        for i in sorted(set(reasons) | set(skips)):
            if i in skips:
                self.report.skipped += 1
                self.report.skipped_by_reason[skips[i]] += 1
            else:
                fld, why = reasons[i]
                _bad(self.report, self.options, self.path, f"{self.kind} {where_list[i]}", fld, why)
        ok = np.ones(n, dtype=bool)
        ok[list(set(reasons) | set(skips))] = False
        idx = np.flatnonzero(ok)
        start_ok = start.iloc[idx].reset_index(drop=True)
        if self.origin is None and len(idx):
            first = start_ok.iloc[0].to_pydatetime(warn=False)
            self.origin = datetime(first.year, first.month, first.day, tzinfo=UTC)
            self.report.origin = self.origin
        start_s = (
            (start_ok - pd.Timestamp(self.origin)).dt.total_seconds().to_numpy(np.float64)
            if len(idx) and self.origin is not None
            else np.zeros(len(idx))
        )
        il = idx.tolist()
        frame = pd.DataFrame(
            {
                "call_id": [get["call_id"][i] or get["row_id"][i] for i in il],
                "line": np.asarray(where_list, np.int64)[idx],
                "start": start_ok,
                "start_s": start_s,
                "duration_s": duration[idx],
                "call_type": [_CT_NAMES[ct[i]] for i in il],
                "number_type": [number_type[i] for i in il],
                "usage_country": [usage[i] for i in il],
                "dest_country": [dest[i] for i in il],
                "licence": [get["licence"][i].upper() for i in il],
                "charge_micros": charge[idx],
                "connection_charge_micros": conn[idx],
                "currency": [get["currency"][i].upper() for i in il],
                "context": [get["context"][i].lower() for i in il],
                "user": [user[i] for i in il],
                "conference_id": [get["conference_id"][i] for i in il],
            }
        )
        if self.options.keep_personal_data:
            frame["display_name"] = [get["display_name"][i] for i in il]
            frame["upn"] = [get["upn"][i] for i in il]
            frame["caller_number"] = [get["caller"][i] for i in il]
            frame["callee_number"] = [callee_text[i] for i in il]
        r = self.report
        r.imported += len(frame)
        if len(frame):
            r.call_types.update(_counts(frame["call_type"]))
            r.currencies.update(_counts(frame["currency"]))
            lo = start_ok.min().to_pydatetime(warn=False)
            hi = start_ok.max().to_pydatetime(warn=False)
            r.first_start = lo if r.first_start is None else min(r.first_start, lo)
            r.last_start = hi if r.last_start is None else max(r.last_start, hi)
        return frame


_CT_NAMES: tuple[str, ...] = tuple(ct.value for ct in CallType)
_UCAP_IN = _CT_CODE["ucap_in"]
_UCAP_OUT = _CT_CODE["ucap_out"]
_SERVICE_CODES = frozenset({_UCAP_IN, _UCAP_OUT})
_INBOUND_CODES = frozenset(_CT_CODE[t.value] for t in INBOUND_TYPES)
_ALL_FIELDS: tuple[str, ...] = (
    *dict.fromkeys(_GRAPH_FIELDS.values()),
    "phone",
    "from_country",
)


# -- public entry points -------------------------------------------------------------------


def iter_call_chunks(
    path: str | Path, options: ImportOptions | None = None, report: ImportReport | None = None
) -> Iterator[pd.DataFrame]:
    """Read a call log and yield its normalised calls chunk by chunk.

    ``report`` (created if None) collects the counts; it is complete once the iterator is
    exhausted. Raise ``InputError`` for an unreadable file, a malformed JSON structure, a
    CSV header without the required columns, or (``strict``) the first bad row.
    """
    options = options or ImportOptions()
    p = Path(path)
    report = report if report is not None else ImportReport(str(p))
    report.keep_bad_rows = options.keep_bad_rows
    fmt: LogFormat = detect_format(p) if options.format == "auto" else options.format
    if fmt not in FORMATS:
        raise InputError(f"{p}: unknown format {fmt!r} (allowed: auto, {', '.join(FORMATS)})")
    report.format = fmt
    converter = _Converter(p, options, report)
    with _open_binary(p) as binary, _text(binary) as text:
        try:
            if fmt == "graph-json":
                chunks = _json_chunks(text, p, options, report)
            else:
                chunks = _csv_chunks(text, p, fmt, options, report)
            while True:
                # The rows are acyclic lists and strings: pausing the cyclic garbage
                # collector while a chunk is read and converted saves a fifth of the time.
                collecting = gc.isenabled()
                gc.disable()
                try:
                    chunk = next(chunks, None)
                    frame = converter.convert(*chunk) if chunk is not None else None
                finally:
                    if collecting:
                        gc.enable()
                if frame is None:
                    break
                if len(frame):
                    yield frame
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{p}: not UTF-8 (or UTF-16 with a byte-order mark) text: {exc}"
            ) from None
        except csv.Error as exc:
            raise InputError(f"{p}: CSV syntax error: {exc}") from None


def empty_call_table(keep_personal_data: bool = False) -> pd.DataFrame:
    """Return a call table with no rows and the columns and types of an import."""
    cols: dict[str, Any] = {
        "call_id": pd.Series([], dtype=str),
        "line": pd.Series([], dtype=np.int64),
        "start": pd.Series([], dtype="datetime64[ns, UTC]"),
        "start_s": pd.Series([], dtype=np.float64),
        "duration_s": pd.Series([], dtype=np.float64),
        "call_type": pd.Series([], dtype=str),
        "number_type": pd.Series([], dtype=str),
        "usage_country": pd.Series([], dtype=str),
        "dest_country": pd.Series([], dtype=str),
        "licence": pd.Series([], dtype=str),
        "charge_micros": pd.Series([], dtype=np.int64),
        "connection_charge_micros": pd.Series([], dtype=np.int64),
        "currency": pd.Series([], dtype=str),
        "context": pd.Series([], dtype=str),
        "user": pd.Series([], dtype=str),
        "conference_id": pd.Series([], dtype=str),
    }
    if keep_personal_data:
        for c in PERSONAL_COLUMNS:
            cols[c] = pd.Series([], dtype=str)
    return pd.DataFrame(cols)


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().items()}


def _is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PAR1"
    except OSError:
        return False


def read_call_log(
    path: str | Path, options: ImportOptions | None = None
) -> tuple[pd.DataFrame, ImportReport]:
    """Import a whole call log into one normalised table, sorted by start (stable).

    A Parquet file written by ``write_call_table`` (``ccsim import-log``) is read as is.
    """
    options = options or ImportOptions()
    p = Path(path)
    if _is_parquet(p):
        return read_call_table(p)
    report = ImportReport(str(p))
    frames = list(iter_call_chunks(p, options, report))
    calls = (
        pd.concat(frames, ignore_index=True)
        if frames
        else empty_call_table(options.keep_personal_data)
    )
    calls = calls.sort_values("start", kind="stable", ignore_index=True)
    return calls, report


def read_call_table(path: str | Path) -> tuple[pd.DataFrame, ImportReport]:
    """Read a normalised call table written by ``write_call_table``."""
    p = Path(path)
    try:
        calls = pd.read_parquet(p)
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: cannot read the Parquet call table: {exc}") from None
    missing = [c for c in COLUMNS if c not in calls.columns]
    if missing:
        raise InputError(
            f"{p}: not a ccsim call table (column {missing[0]!r} missing); import the "
            "raw log instead"
        )
    calls = calls.sort_values("start", kind="stable", ignore_index=True)
    report = ImportReport(str(p), format="parquet", rows=len(calls), imported=len(calls))
    if len(calls):
        report.first_start = calls["start"].iloc[0].to_pydatetime(warn=False)
        report.last_start = calls["start"].max().to_pydatetime(warn=False)
        report.call_types.update(_counts(calls["call_type"]))
        report.currencies.update(_counts(calls["currency"]))
    return calls, report


def write_call_table(
    path: str | Path, out: str | Path, options: ImportOptions | None = None
) -> ImportReport:
    """Import a call log into a Parquet call table (``.parquet``) or CSV (``.csv``).

    Streams chunk by chunk (bounded memory) into a temporary file next to ``out``, renamed
    into place when complete; ``out`` must not exist.
    """
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    options = options or ImportOptions()
    target = Path(out)
    if target.exists():
        raise InputError(f"{target}: exists already; choose a new file (nothing overwritten)")
    target.parent.mkdir(parents=True, exist_ok=True)
    report = ImportReport(str(path))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    as_csv = target.suffix.lower() == ".csv"
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    try:
        wrote_header = False
        for frame in iter_call_chunks(path, options, report):
            if as_csv:
                from sim.core.tables import to_csv_frame

                out_frame = to_csv_frame(frame)
                out_frame["start"] = out_frame["start"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                out_frame.to_csv(tmp, mode="a", header=not wrote_header, index=False)
                wrote_header = True
                continue
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table.cast(schema))
        if as_csv and not wrote_header:
            empty_call_table(options.keep_personal_data).to_csv(tmp, index=False)
        if not as_csv:
            if writer is None:
                empty = empty_call_table(options.keep_personal_data)
                pq.write_table(pa.Table.from_pandas(empty, preserve_index=False), tmp)
            else:
                writer.close()
                writer = None
        if target.exists():
            raise InputError(f"{target}: exists already; nothing overwritten")
        os.replace(tmp, target)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return report


# -- users ---------------------------------------------------------------------------------


def user_licences(calls: pd.DataFrame) -> pd.DataFrame:
    """Summarise each user of a call table: usage country, calling plan and conferencing.

    One row per ``user`` (non-empty) with ``usage_country`` (the most frequent), ``licence``
    (the most frequent capability of its own calls, else of all its calls), ``plan``
    (from the most frequent calling-plan capability of the user's own calls: ``MCOPSTN1``
    -> ``domestic``, Communications Credits only -> ``payg``; empty when the user placed or
    received none), ``conferencing`` (from the meeting calls' capability; empty when none),
    ``calls`` and ``service`` (True for auto attendants and call queues).
    """
    if not len(calls):
        return pd.DataFrame(
            columns=[
                "user",
                "usage_country",
                "licence",
                "plan",
                "conferencing",
                "calls",
                "service",
            ]
        )
    ct = calls["call_type"].astype(str)
    service = ct.isin(["ucap_in", "ucap_out"])
    frame = pd.DataFrame(
        {
            "user": calls["user"].astype(str),
            "usage_country": calls["usage_country"].astype(str),
            "licence": calls["licence"].astype(str),
            "own": ct.str.startswith("user_"),
            "conf": ct.str.startswith("conf_"),
            "service": service,
        }
    )
    frame = frame[frame["user"] != ""]
    country = (
        frame.groupby(["user", "usage_country"]).size().reset_index(name="n")
        .sort_values(["user", "n", "usage_country"], ascending=[True, False, True])
        .drop_duplicates("user")
        .set_index("user")["usage_country"]
    )  # fmt: skip
    own = frame[frame["own"] | frame["service"]].copy()
    own["plan"] = own["licence"].map(PLAN_OF_CAPABILITY)
    plan_counts = own.dropna(subset=["plan"]).groupby(["user", "plan"]).size().reset_index(name="n")
    # A plan licence beats Communications Credits: a domestic-plan user's international
    # calls show MCOPSTNPP, the plan's own calls show the plan.
    plan_counts["rank"] = (plan_counts["plan"] != "payg").astype(int)
    plan = (
        plan_counts.sort_values(["user", "rank", "n", "plan"], ascending=[True, False, False, True])
        .drop_duplicates("user")
        .set_index("user")["plan"]
    )
    conf = frame[frame["conf"]].copy()
    conf["conferencing"] = conf["licence"].map(CONFERENCING_OF_CAPABILITY)
    conf_counts = (
        conf.dropna(subset=["conferencing"])
        .groupby(["user", "conferencing"])
        .size()
        .reset_index(name="n")
    )
    conferencing = (
        conf_counts.sort_values(["user", "n", "conferencing"], ascending=[True, False, True])
        .drop_duplicates("user")
        .set_index("user")["conferencing"]
    )
    # The user's own calls' most frequent capability (all calls when it has none).
    frame["rank"] = (frame["own"] | frame["service"]).astype(int)
    licence = (
        frame.groupby(["user", "rank", "licence"]).size().reset_index(name="n")
        .sort_values(["user", "rank", "n", "licence"], ascending=[True, False, False, True])
        .drop_duplicates("user")
        .set_index("user")["licence"]
    )  # fmt: skip
    calls_n = frame.groupby("user").size()
    is_service = frame.groupby("user")["service"].any()
    out = pd.DataFrame({"usage_country": country})
    out["licence"] = licence.reindex(out.index).fillna("")
    out["plan"] = plan.reindex(out.index).fillna("")
    out["conferencing"] = conferencing.reindex(out.index).fillna("")
    out["calls"] = calls_n.reindex(out.index).fillna(0).astype(np.int64)
    out["service"] = is_service.reindex(out.index).fillna(False).astype(bool)
    return out.rename_axis("user").reset_index()


def utc_window(calls: pd.DataFrame) -> tuple[datetime, datetime]:
    """Return the whole UTC days a log covers, as (first 00:00 UTC, last 00:00 UTC + 1 day).

    getPstnCalls and the admin-center export select calls by whole UTC days.
    """
    if not len(calls):
        raise ValueError("the call log holds no calls")
    first = calls["start"].min().to_pydatetime(warn=False)
    last = calls["start"].max().to_pydatetime(warn=False)
    lo = datetime(first.year, first.month, first.day, tzinfo=UTC)
    hi = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return lo, hi


def file_sha256(path: str | Path) -> str:
    """Return the sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


__all__ = [
    "CALL_TYPE_SKIPS",
    "CAPABILITY_OF_CONFERENCING",
    "CAPABILITY_OF_PLAN",
    "COLUMNS",
    "CONFERENCING_OF_CAPABILITY",
    "COUNTRY_NAMES",
    "FORMATS",
    "PERSONAL_COLUMNS",
    "PLAN_OF_CAPABILITY",
    "PREMIUM_PREFIXES",
    "TOLL_FREE_PREFIXES",
    "BadRow",
    "ImportOptions",
    "ImportReport",
    "LogFormat",
    "Pseudonymiser",
    "calling_prefix",
    "country_code",
    "country_name",
    "detect_format",
    "e164_digits",
    "empty_call_table",
    "file_sha256",
    "iter_call_chunks",
    "number_country",
    "number_kind",
    "parse_amount",
    "parse_duration_s",
    "read_call_log",
    "read_call_table",
    "user_licences",
    "utc_window",
    "write_call_table",
]
