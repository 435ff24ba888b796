"""Countries: the ISO 3166-1 table with English names and E.164 calling prefixes.

``country_code`` reads an alpha-2 or alpha-3 code or a country name (with common
aliases: "UK", "USA", "Korea, Republic of", ...); ``country_name`` and ``calling_prefix``
look a code up; ``CALLING_PREFIXES`` maps each calling-code prefix to its country.
"""

from __future__ import annotations

import re
import unicodedata

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


__all__ = [
    "CALLING_PREFIXES",
    "COUNTRY_NAMES",
    "calling_prefix",
    "country_code",
    "country_name",
]
