"""Write inputs.jsonl: invoice, receipt and order-confirmation emails with gold fields.

    python examples/invoice-extraction/make_inputs.py          # rewrites inputs.jsonl beside it
    python examples/invoice-extraction/make_inputs.py -n 1000 --seed 3 --out /tmp/invoices.jsonl

Each email comes from one of ~30 fictional vendors (cafés, SaaS tools, print shops, consultants,
hosting companies...) in the US, UK, Canada, Australia, Germany, France, Ireland, the
Netherlands, Switzerland and Japan, and is laid out the way such businesses send them: a
formal invoice with a table, a till receipt, a shop's order confirmation, a SaaS payment
receipt, a two-line note in prose, a German `Rechnung` or a French `facture`, sometimes
forwarded by a colleague. Dates and amounts are written in the vendor's local style.

One record per line; `gold` is what a careful reader extracts (the template's JSON schema):

    {"id": "inv-0001", "text": "...", "lang": "en", "layout": "receipt",
     "gold": {"vendor": "...", "invoice_number": "...", "date": "2024-03-14", "currency": "USD",
              "total": 12.5, "line_items": [{"description": "Latte", "quantity": 2,
                                             "amount": 9.0}]}}

Conventions the gold follows (and the template states): `invoice_number` is the invoice number
as printed without a leading '#', else the receipt or order number; `date` is the issue date,
never a due date or an email's sending date; `total` is what was paid or is due, taxes and
shipping included; a line item's `amount` is its line total; shipping, tax and discounts are
not line items.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Vendor:
    name: str
    domain: str
    country: str  # US UK CA AU DE FR IE NL CH JP
    kind: str  # which items it sells
    address: str


VENDORS = [
    Vendor(
        "Blue Mesa Coffee Roasters",
        "bluemesacoffee.com",
        "US",
        "cafe",
        "412 Alameda St, Santa Fe, NM 87501",
    ),
    Vendor(
        "Pixelforge Software",
        "pixelforge.io",
        "US",
        "saas",
        "88 Market St, Suite 300, San Francisco, CA 94105",
    ),
    Vendor(
        "Hartley Hardware",
        "hartleyhardware.com",
        "US",
        "hardware",
        "1290 Elm Ave, Dayton, OH 45402",
    ),
    Vendor(
        "Summit IT Services", "summit-it.com", "US", "consulting", "55 Pine Rd, Boulder, CO 80302"
    ),
    Vendor(
        "Evergreen Office Supply",
        "evergreenoffice.com",
        "US",
        "office",
        "7 Commerce Way, Tacoma, WA 98402",
    ),
    Vendor(
        "Copperline Print Co.",
        "copperlineprint.com",
        "US",
        "print",
        "230 W 4th St, Austin, TX 78701",
    ),
    Vendor(
        "Northstar Hosting", "northstarhost.net", "US", "hosting", "PO Box 4410, Reston, VA 20195"
    ),
    Vendor(
        "Lucky Noodle House",
        "luckynoodle.com",
        "US",
        "restaurant",
        "19 Grant Ave, San Francisco, CA 94108",
    ),
    Vendor(
        "Voltway Electronics", "voltway.com", "US", "electronics", "600 Tech Pkwy, Plano, TX 75024"
    ),
    Vendor("Gridline Analytics", "gridline.ai", "US", "saas", "1 Broadway, Cambridge, MA 02142"),
    Vendor(
        "Thistle & Rye Bakery", "thistleandrye.co.uk", "UK", "cafe", "14 Bridge St, York YO1 6DA"
    ),
    Vendor(
        "Kettlewell Stationers", "kettlewell.co.uk", "UK", "office", "3 Mill Lane, Leeds LS1 4AB"
    ),
    Vendor(
        "Brightmoor Consulting Ltd",
        "brightmoor.co.uk",
        "UK",
        "consulting",
        "21 King St, Manchester M2 4LQ",
    ),
    Vendor(
        "Cobalt Web Studio",
        "cobaltweb.studio",
        "UK",
        "design",
        "Unit 5, 40 Albion Rd, Bristol BS2 8TF",
    ),
    Vendor(
        "Ashford Tool Hire",
        "ashfordtoolhire.co.uk",
        "UK",
        "hardware",
        "Station Yard, Ashford TN23 1AA",
    ),
    Vendor(
        "Birchwood Supply Co.",
        "birchwoodsupply.ca",
        "CA",
        "office",
        "920 Queen St W, Toronto, ON M6J 1G6",
    ),
    Vendor(
        "Polar Bean Café", "polarbean.ca", "CA", "cafe", "211 Rue Saint-Paul, Montréal, QC H2Y 1H8"
    ),
    Vendor(
        "Wattle & Co. Design",
        "wattleandco.com.au",
        "AU",
        "design",
        "8 Brunswick St, Fitzroy VIC 3065",
    ),
    Vendor(
        "Southern Cross Hosting",
        "southerncross.host",
        "AU",
        "hosting",
        "Level 2, 100 George St, Sydney NSW 2000",
    ),
    Vendor(
        "Müller Büroservice GmbH",
        "mueller-buero.de",
        "DE",
        "office",
        "Hauptstraße 12, 80331 München",
    ),
    Vendor(
        "Kaffeehaus Lindner",
        "kaffeehaus-lindner.de",
        "DE",
        "cafe",
        "Schillerplatz 3, 70173 Stuttgart",
    ),
    Vendor(
        "Nordlicht IT GmbH", "nordlicht-it.de", "DE", "consulting", "Speicherstadt 7, 20457 Hamburg"
    ),
    Vendor(
        "Druckerei Weber", "druckerei-weber.de", "DE", "print", "Industriestraße 40, 50667 Köln"
    ),
    Vendor(
        "Boulangerie Martin",
        "boulangerie-martin.fr",
        "FR",
        "bakery",
        "27 rue des Martyrs, 75009 Paris",
    ),
    Vendor(
        "Atelier Lumière SARL",
        "atelier-lumiere.fr",
        "FR",
        "design",
        "5 quai Saint-Vincent, 69001 Lyon",
    ),
    Vendor(
        "Papeterie du Centre",
        "papeterie-centre.fr",
        "FR",
        "office",
        "2 place Kléber, 67000 Strasbourg",
    ),
    Vendor("Liffey Digital Ltd", "liffeydigital.ie", "IE", "design", "12 Ormond Quay, Dublin 7"),
    Vendor(
        "Canal Cloud B.V.", "canalcloud.nl", "NL", "hosting", "Herengracht 210, 1016 BS Amsterdam"
    ),
    Vendor(
        "Alpenblick Treuhand AG",
        "alpenblick-treuhand.ch",
        "CH",
        "consulting",
        "Bahnhofstrasse 21, 8001 Zürich",
    ),
    Vendor(
        "Sakura Stationery",
        "sakura-stationery.jp",
        "JP",
        "office",
        "2-4-1 Ginza, Chuo-ku, Tokyo 104-0061",
    ),
]

CURRENCY = {
    "US": "USD",
    "UK": "GBP",
    "CA": "CAD",
    "AU": "AUD",
    "DE": "EUR",
    "FR": "EUR",
    "IE": "EUR",
    "NL": "EUR",
    "CH": "CHF",
    "JP": "JPY",
}
TAX = {
    "US": ("Sales tax", 0.0825),
    "UK": ("VAT", 0.20),
    "CA": ("GST/HST", 0.13),
    "AU": ("GST", 0.10),
    "DE": ("USt.", 0.19),
    "FR": ("TVA", 0.20),
    "IE": ("VAT", 0.23),
    "NL": ("BTW", 0.21),
    "CH": ("MWST", 0.081),
    "JP": ("Consumption tax", 0.10),
}

# (description, low price, high price, quantity range)
ITEMS = {
    "cafe": [
        ("Latte", 4, 5.5, (1, 3)),
        ("Cappuccino", 3.75, 5, (1, 3)),
        ("Flat white", 3.5, 4.8, (1, 2)),
        ("Croissant", 2.8, 4.2, (1, 4)),
        ("Avocado toast", 9, 13, (1, 2)),
        ("Cold brew", 4.5, 6, (1, 2)),
        ("Blueberry muffin", 3, 4.5, (1, 3)),
        ("Chai latte", 4.2, 5.5, (1, 2)),
        ("House blend beans 250g", 12, 18, (1, 2)),
    ],
    "saas": [
        ("Pro plan (monthly)", 19, 79, (1, 1)),
        ("Team plan - 5 seats", 99, 249, (1, 1)),
        ("Additional storage 100 GB", 5, 15, (1, 3)),
        ("API overage (10k calls)", 8, 25, (1, 6)),
        ("Priority support add-on", 29, 99, (1, 1)),
        ("Extra seat", 12, 25, (1, 8)),
    ],
    "hardware": [
        ("Cordless drill 18V", 89, 179, (1, 1)),
        ("Wood screws 4x40 (box of 200)", 6, 12, (1, 5)),
        ("Paint roller set", 11, 24, (1, 2)),
        ("Masking tape 48mm", 3, 7, (2, 10)),
        ("Extension cord 10 m", 14, 29, (1, 3)),
        ("Safety goggles", 6, 15, (1, 4)),
        ("Circular saw (2-day hire)", 35, 70, (1, 1)),
    ],
    "consulting": [
        ("Consulting (hours)", 95, 220, (2, 24)),
        ("Project management (hours)", 70, 140, (1, 10)),
        ("Half-day workshop", 600, 1500, (1, 2)),
        ("Travel expenses", 40, 400, (1, 1)),
        ("Quarterly tax filing", 250, 900, (1, 1)),
    ],
    "office": [
        ("A4 copy paper (ream)", 4, 8, (2, 20)),
        ("Ballpoint pens, blue (box of 50)", 8, 16, (1, 4)),
        ("Stapler", 7, 19, (1, 3)),
        ("Toner cartridge TN-2420", 38, 79, (1, 4)),
        ("Sticky notes 76x76 (12 pack)", 6, 13, (1, 6)),
        ("Desk organiser", 12, 30, (1, 2)),
        ("Lever arch files", 2, 5, (3, 20)),
    ],
    "print": [
        ("Business cards (500)", 29, 69, (1, 4)),
        ("A2 posters", 2, 6, (10, 100)),
        ("Flyers A5 (1000)", 45, 120, (1, 3)),
        ("Roll-up banner", 79, 160, (1, 2)),
        ("Design proof", 15, 40, (1, 1)),
    ],
    "hosting": [
        ("VPS 4 GB - monthly", 12, 40, (1, 4)),
        ("Managed database", 15, 60, (1, 2)),
        ("Domain renewal (.com)", 11, 18, (1, 5)),
        ("SSL certificate", 9, 70, (1, 2)),
        ("Backup storage 50 GB", 3, 10, (1, 3)),
    ],
    "restaurant": [
        ("Pad thai", 12, 17, (1, 3)),
        ("Spring rolls", 6, 9, (1, 2)),
        ("Green curry", 13, 18, (1, 3)),
        ("Jasmine rice", 2.5, 4, (1, 4)),
        ("Thai iced tea", 4, 6, (1, 4)),
    ],
    "electronics": [
        ("USB-C cable 2 m", 9, 19, (1, 4)),
        ("Wireless mouse", 19, 59, (1, 3)),
        ("27-inch monitor", 179, 399, (1, 2)),
        ("HDMI adapter", 12, 29, (1, 3)),
        ("Laptop stand", 25, 69, (1, 2)),
        ("Noise-cancelling headphones", 149, 349, (1, 1)),
    ],
    "design": [
        ("Logo design", 400, 1800, (1, 1)),
        ("Brand guidelines", 600, 2400, (1, 1)),
        ("Website mock-ups", 800, 3000, (1, 1)),
        ("Revisions (hours)", 50, 110, (1, 8)),
        ("Stock photo licences", 10, 40, (1, 10)),
    ],
    "bakery": [
        ("Baguette tradition", 1.2, 1.6, (1, 4)),
        ("Croissant", 1.1, 1.6, (1, 6)),
        ("Pain au chocolat", 1.3, 1.8, (1, 6)),
        ("Tarte aux pommes", 14, 24, (1, 1)),
        ("Éclair au café", 2.8, 4, (1, 4)),
    ],
}
# Local names where a German or French vendor writes its own documents.
LOCAL_NAMES = {
    "DE": {
        "A4 copy paper (ream)": "Kopierpapier A4 (500 Blatt)",
        "Ballpoint pens, blue (box of 50)": "Kugelschreiber blau (50 Stk.)",
        "Stapler": "Heftgerät",
        "Toner cartridge TN-2420": "Toner TN-2420",
        "Sticky notes 76x76 (12 pack)": "Haftnotizen 76x76 (12er Pack)",
        "Desk organiser": "Schreibtisch-Organizer",
        "Lever arch files": "Ordner breit",
        "Latte": "Milchkaffee",
        "Cappuccino": "Cappuccino",
        "Flat white": "Flat White",
        "Croissant": "Croissant",
        "Avocado toast": "Avocado-Brot",
        "Cold brew": "Cold Brew",
        "Blueberry muffin": "Heidelbeer-Muffin",
        "Chai latte": "Chai Latte",
        "House blend beans 250g": "Hausmischung Bohnen 250 g",
        "Consulting (hours)": "Beratung (Std.)",
        "Project management (hours)": "Projektmanagement (Std.)",
        "Half-day workshop": "Workshop (halbtags)",
        "Travel expenses": "Reisekosten",
        "Quarterly tax filing": "Umsatzsteuer-Voranmeldung",
        "Business cards (500)": "Visitenkarten (500 Stk.)",
        "A2 posters": "Plakate A2",
        "Flyers A5 (1000)": "Flyer A5 (1000 Stk.)",
        "Roll-up banner": "Roll-up-Banner",
        "Design proof": "Korrekturabzug",
    },
    "FR": {
        "Logo design": "Création de logo",
        "Brand guidelines": "Charte graphique",
        "Website mock-ups": "Maquettes site web",
        "Revisions (hours)": "Retouches (heures)",
        "Stock photo licences": "Licences photos",
        "A4 copy paper (ream)": "Ramette papier A4",
        "Ballpoint pens, blue (box of 50)": "Stylos bille bleus (boîte de 50)",
        "Stapler": "Agrafeuse",
        "Toner cartridge TN-2420": "Toner TN-2420",
        "Sticky notes 76x76 (12 pack)": "Notes repositionnables (lot de 12)",
        "Desk organiser": "Organiseur de bureau",
        "Lever arch files": "Classeurs à levier",
    },
}
CUSTOMERS = [
    "Sam",
    "Priya",
    "Alex",
    "Jordan",
    "Maria",
    "Tom",
    "Chen",
    "Fatima",
    "Lukas",
    "Chloe",
    "Ben",
    "Aisha",
    "Mateo",
    "Hannah",
    "Ravi",
    "Olivia",
]
CUSTOMER_COMPANIES = [
    "Harbor & Pine Studio",
    "Keystone Logistics",
    "Maple Row Cafe",
    "Northgate Consulting",
    "Bluefin Yoga",
    "Oakridge Property",
    "Tidewater Architects",
    "Fernhill Dental",
]
MONTHS_EN = [
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
]
MONTHS_FR = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]

# ---------------------------------------------------------------------------------------------
# Local formats.


def fmt_number(value: float, country: str, decimals: int = 2) -> str:
    text = f"{value:,.{decimals}f}"
    if country in ("DE", "NL"):
        return text.replace(",", "X").replace(".", ",").replace("X", ".")
    if country == "FR":
        return text.replace(",", "\u202f").replace(".", ",")
    if country == "CH":
        return text.replace(",", "'")
    return text


def fmt_money(value: float, country: str, style: int) -> str:
    """An amount as the vendor prints it; `style` picks between the local habits."""
    cur = CURRENCY[country]
    if cur == "JPY":
        n = fmt_number(value, country, 0)
        return [f"¥{n}", f"{n} JPY", f"JPY {n}"][style % 3]
    n = fmt_number(value, country)
    if cur == "USD":
        return [f"${n}", f"${n}", f"USD {n}", f"{n} USD"][style % 4]
    if cur == "GBP":
        return [f"£{n}", f"£{n}", f"GBP {n}"][style % 3]
    if cur == "CAD":
        return [f"C${n}", f"CA${n}", f"{n} CAD", f"CAD {n}"][style % 4]
    if cur == "AUD":
        return [f"A${n}", f"AUD {n}", f"{n} AUD", f"A${n}"][style % 4]
    if cur == "CHF":
        return [f"CHF {n}", f"{n} CHF", f"CHF {n}"][style % 3]
    # EUR
    if country in ("IE", "NL"):
        return [f"€{n}", f"EUR {n}", f"€ {n}"][style % 3]
    return [f"{n} €", f"{n} EUR", f"{n} €"][style % 3]


def fmt_date(d: date, country: str, style: int) -> str:
    if country == "US":
        opts = [
            f"{MONTHS_EN[d.month - 1]} {d.day}, {d.year}",
            f"{d.month:02d}/{d.day:02d}/{d.year}",
            f"{MONTHS_EN[d.month - 1][:3]} {d.day}, {d.year}",
            d.isoformat(),
        ]
    elif country in ("UK", "IE", "AU"):
        opts = [
            f"{d.day} {MONTHS_EN[d.month - 1]} {d.year}",
            f"{d.day:02d}/{d.month:02d}/{d.year}",
            f"{d.day} {MONTHS_EN[d.month - 1][:3]} {d.year}",
            d.isoformat(),
        ]
    elif country == "CA":
        opts = [
            d.isoformat(),
            f"{MONTHS_EN[d.month - 1]} {d.day}, {d.year}",
            f"{d.day} {MONTHS_EN[d.month - 1][:3]} {d.year}",
        ]
    elif country in ("DE", "CH", "NL"):
        opts = [f"{d.day:02d}.{d.month:02d}.{d.year}", f"{d.day}.{d.month}.{d.year}", d.isoformat()]
    elif country == "FR":
        opts = [f"{d.day:02d}/{d.month:02d}/{d.year}", f"{d.day} {MONTHS_FR[d.month - 1]} {d.year}"]
    else:  # JP
        opts = [d.isoformat(), f"{d.year}/{d.month:02d}/{d.day:02d}"]
    return opts[style % len(opts)]


def rnd_date(rng: random.Random) -> date:
    return date(2023, 1, 1) + timedelta(days=rng.randint(0, 760))


# ---------------------------------------------------------------------------------------------


@dataclass
class Doc:
    vendor: Vendor
    number: str
    issued: date
    items: list[tuple[str, int, float, float]]  # description, quantity, unit price, line total
    subtotal: float
    tax: float
    shipping: float
    discount: float
    total: float
    money_style: int
    date_style: int

    def money(self, value: float) -> str:
        return fmt_money(value, self.vendor.country, self.money_style)

    def day(self, d: date | None = None) -> str:
        return fmt_date(d or self.issued, self.vendor.country, self.date_style)


def _number(v: Vendor, layout: str, issued: date, rng: random.Random) -> str:
    if layout == "receipt":
        return rng.choice(
            [
                f"{rng.randint(1000, 99999)}",
                f"R-{rng.randint(100000, 999999)}",
                f"{rng.randint(1, 9)}-{rng.randint(1000, 9999)}",
            ]
        )
    if layout == "order":
        return rng.choice(
            [
                f"{rng.randint(100, 999)}-{rng.randint(1000000, 9999999)}",
                f"WEB{rng.randint(100000, 999999)}",
                f"{rng.randint(10000, 99999)}",
            ]
        )
    if layout == "saas":
        return f"{v.name.split()[0].upper()[:4]}-{rng.randint(1000, 9999)}-{rng.randint(100, 999)}"
    return rng.choice(
        [
            f"INV-{issued.year}-{rng.randint(1, 999):04d}",
            f"{issued.year}-{rng.randint(100, 999)}",
            f"{rng.randint(10000, 99999)}",
            f"INV{rng.randint(1000, 9999)}",
            f"{issued.year}{issued.month:02d}-{rng.randint(10, 99)}",
        ]
    )


def make_doc(v: Vendor, layout: str, rng: random.Random) -> Doc:
    issued = rnd_date(rng)
    n_items = {"receipt": rng.randint(1, 5), "saas": rng.randint(1, 3), "prose": 1}.get(
        layout, rng.randint(1, 5)
    )
    chosen = rng.sample(ITEMS[v.kind], min(n_items, len(ITEMS[v.kind])))
    decimals = 0 if CURRENCY[v.country] == "JPY" else 2
    scale = 130 if decimals == 0 else 1
    items = []
    for desc, lo, hi, (qlo, qhi) in chosen:
        unit = round(rng.uniform(lo, hi) * scale, decimals)
        if decimals and rng.random() < 0.4:
            unit = float(int(unit)) + rng.choice([0.0, 0.5, 0.95, 0.99])
        qty = rng.randint(qlo, qhi)
        if v.country in LOCAL_NAMES and layout in ("rechnung", "facture"):
            desc = LOCAL_NAMES[v.country].get(desc, desc)
        items.append((desc, qty, unit, round(unit * qty, decimals)))
    subtotal = round(sum(i[3] for i in items), decimals)
    tax_name, rate = TAX[v.country]
    tax = round(subtotal * rate, decimals) if layout != "prose" and rng.random() < 0.85 else 0.0
    shipping = 0.0
    if layout == "order" and rng.random() < 0.6:
        shipping = round(rng.choice([4.99, 5.95, 7.5, 9.99, 12.0]) * scale, decimals)
    discount = (
        round(subtotal * 0.1, decimals)
        if layout in ("order", "invoice") and rng.random() < 0.15
        else 0.0
    )
    total = round(subtotal + tax + shipping - discount, decimals)
    return Doc(
        v,
        _number(v, layout, issued, rng),
        issued,
        items,
        subtotal,
        tax,
        shipping,
        discount,
        total,
        money_style=rng.randrange(12),
        date_style=rng.randrange(12),
    )


# ---------------------------------------------------------------------------------------------
# Layouts. Each returns the email text for a document.


def _from_line(v: Vendor, rng: random.Random) -> str:
    who = rng.choice(
        [
            f"{v.name} <billing@{v.domain}>",
            f"{v.name} Billing <invoices@{v.domain}>",
            f"receipts@{v.domain}",
            f"{v.name} <no-reply@{v.domain}>",
        ]
    )
    return f"From: {who}"


def layout_invoice(d: Doc, rng: random.Random) -> str:
    v = d.vendor
    cust = rng.choice(CUSTOMERS)
    company = rng.choice(CUSTOMER_COMPANIES)
    due = d.issued + timedelta(days=rng.choice([14, 30, 30, 45]))
    number_label = rng.choice(["Invoice No:", "Invoice #:", "Invoice number:", "Invoice:"])
    date_label = rng.choice(["Invoice Date:", "Date:", "Issue date:", "Date of issue:"])
    head = [
        _from_line(v, rng),
        f"Subject: Invoice {d.number} from {v.name}",
        "",
        rng.choice([f"Dear {cust},", f"Hi {cust},", "Hello,"]),
        "",
        rng.choice(
            [
                "Please find your invoice below.",
                "Thank you for your business. Your invoice is below.",
                f"Here is the invoice for {rng.choice(['last month', 'the work completed', 'your recent order'])}.",
            ]
        ),
        "",
        rng.choice(["INVOICE", "TAX INVOICE", "Invoice"]),
        v.name,
        v.address,
        "",
        f"Bill to: {company}",
        f"{number_label} {d.number}",
        f"{date_label} {d.day()}",
        f"Due date: {d.day(due)}" if rng.random() < 0.7 else "",
        "",
    ]
    table = rng.random() < 0.5
    if table:
        rows = ["Description | Qty | Unit price | Amount"]
        rows += [f"{desc} | {q} | {d.money(u)} | {d.money(t)}" for desc, q, u, t in d.items]
    else:
        rows = [f"{'Description':<34}{'Qty':>5}{'Unit':>14}{'Amount':>14}"]
        rows += [
            f"{desc:<34}{q:>5}{fmt_number(u, v.country, 0 if CURRENCY[v.country] == 'JPY' else 2):>14}"
            f"{fmt_number(t, v.country, 0 if CURRENCY[v.country] == 'JPY' else 2):>14}"
            for desc, q, u, t in d.items
        ]
        rows.append(f"(all amounts in {CURRENCY[v.country]})")
    tax_name, rate = TAX[v.country]
    sums = ["", f"Subtotal: {d.money(d.subtotal)}"]
    if d.discount:
        sums.append(f"Discount (10%): -{d.money(d.discount)}")
    if d.tax:
        sums.append(f"{tax_name} ({rate * 100:g}%): {d.money(d.tax)}")
    sums.append(
        f"{rng.choice(['Total due', 'TOTAL', 'Amount due', 'Total', 'Balance due'])}: {d.money(d.total)}"
    )
    tail = [
        "",
        rng.choice(
            [
                f"Payment is due within {(due - d.issued).days} days.",
                "Payment terms: Net 30.",
                "Bank transfer details are on the attached PDF.",
            ]
        ),
        "",
        rng.choice(["Kind regards,", "Thanks,", "Best regards,"]),
        f"Accounts team, {v.name}",
    ]
    return "\n".join(head + rows + sums + tail).replace("\n\n\n", "\n\n")


def layout_receipt(d: Doc, rng: random.Random) -> str:
    v = d.vendor
    hh, mm = rng.randint(7, 21), rng.randint(0, 59)
    lines = [
        _from_line(v, rng),
        f"Subject: Your receipt from {v.name}",
        "",
        rng.choice(
            [
                f"Thanks for visiting {v.name}!",
                f"Thank you for shopping at {v.name}.",
                f"{v.name.upper()}",
            ]
        ),
        v.address,
        "",
        f"Receipt #{d.number}" if rng.random() < 0.6 else f"Receipt no. {d.number}",
        f"{d.day()} {hh:02d}:{mm:02d}",
        "",
    ]
    style = rng.randrange(3)
    for desc, q, u, t in d.items:
        if style == 0:
            lines.append(f"{q} x {desc:<28} {d.money(t)}")
        elif style == 1:
            lines.append(f"{desc} x{q}  {d.money(t)}" if q > 1 else f"{desc}  {d.money(t)}")
        else:
            lines.append(f"{desc:<28} {q} @ {d.money(u)}  {d.money(t)}")
    lines += ["", f"Subtotal {d.money(d.subtotal)}"]
    if d.tax:
        lines.append(f"{TAX[v.country][0]} {d.money(d.tax)}")
    lines.append(f"TOTAL {d.money(d.total)}")
    lines += [
        f"Paid by {rng.choice(['Visa', 'Mastercard', 'Amex', 'Apple Pay'])} ****{rng.randint(1000, 9999)}",
        "",
        rng.choice(
            ["See you soon!", "Keep this receipt for returns within 30 days.", "Have a great day!"]
        ),
    ]
    return "\n".join(lines)


def layout_order(d: Doc, rng: random.Random) -> str:
    v = d.vendor
    cust = rng.choice(CUSTOMERS)
    lines = [
        _from_line(v, rng),
        f"Subject: Your {v.name} order {d.number} is confirmed",
        "",
        f"Hi {cust},",
        "",
        rng.choice(
            [
                "Thanks for your order! We'll let you know when it ships.",
                "Good news: we've received your order and are getting it ready.",
            ]
        ),
        "",
        f"Order number: {d.number}" if rng.random() < 0.7 else f"Order #{d.number}",
        f"{rng.choice(['Order date', 'Placed on', 'Date'])}: {d.day()}",
        "",
        "Items in this order:",
    ]
    for desc, q, _u, t in d.items:
        lines.append(
            rng.choice([f"- {desc} (Qty: {q}) — {d.money(t)}", f"• {q} × {desc} — {d.money(t)}"])
        )
    lines.append("")
    lines.append(f"Subtotal: {d.money(d.subtotal)}")
    if d.discount:
        lines.append(f"Promo discount: -{d.money(d.discount)}")
    lines.append(f"Shipping: {d.money(d.shipping) if d.shipping else 'FREE'}")
    if d.tax:
        lines.append(f"Tax: {d.money(d.tax)}")
    lines.append(f"{rng.choice(['Order total', 'Total', 'Grand total'])}: {d.money(d.total)}")
    expected = d.issued + timedelta(days=rng.randint(2, 9))
    lines += ["", f"Estimated delivery: {d.day(expected)}", "", f"— The {v.name} team"]
    return "\n".join(lines)


def layout_saas(d: Doc, rng: random.Random) -> str:
    v = d.vendor
    receipt_no = f"{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
    lines = [
        _from_line(v, rng),
        f"Subject: Your {v.name} receipt [#{receipt_no}]",
        "",
        f"{v.name} — Payment receipt",
        "",
        f"Amount paid: {d.money(d.total)}",
        f"Date paid: {d.day()}",
        f"Receipt number: {receipt_no}",
        f"Invoice number: {d.number}",
        "",
    ]
    period_end = d.issued + timedelta(days=30)
    lines.append(f"Billing period: {d.day()} – {d.day(period_end)}")
    lines.append("")
    for desc, q, _u, t in d.items:
        lines.append(f"{desc} × {q}    {d.money(t)}")
    if d.tax:
        lines.append(f"{TAX[v.country][0]}    {d.money(d.tax)}")
    lines += [
        f"Amount paid    {d.money(d.total)}",
        "",
        f"Questions? Reply to this email or visit {v.domain}/billing.",
    ]
    return "\n".join(lines)


def layout_prose(d: Doc, rng: random.Random) -> str:
    v = d.vendor
    desc, q, _u, t = d.items[0]
    cust = rng.choice(CUSTOMERS)
    what = desc if q == 1 else f"{q} x {desc}"
    body = rng.choice(
        [
            f"Hi {cust}, just confirming we received your payment of {d.money(d.total)} for invoice {d.number} "
            f"dated {d.day()} ({what}). Thanks again!",
            f"Hello {cust},\n\nInvoice {d.number} ({d.day()}) for {what}: {d.money(d.total)}. "
            f"Payment by bank transfer within 14 days please.",
            f"{cust} - invoice no. {d.number} issued {d.day()}, {what}, total {d.money(d.total)}. "
            f"Let me know if anything looks off.",
        ]
    )
    return "\n".join(
        [
            _from_line(v, rng),
            f"Subject: Invoice {d.number}",
            "",
            body,
            "",
            rng.choice(["Cheers,", "Best,", "Thanks,"]),
            v.name,
        ]
    )


def layout_rechnung(d: Doc, rng: random.Random) -> str:
    v = d.vendor
    lines = [
        _from_line(v, rng),
        f"Betreff: Rechnung {d.number}",
        "",
        "Sehr geehrte Damen und Herren,",
        "",
        "anbei erhalten Sie unsere Rechnung.",
        "",
        v.name,
        v.address,
        "",
        f"Rechnung Nr. {d.number}",
        f"{rng.choice(['Rechnungsdatum', 'Datum'])}: {d.day()}",
        f"Leistungszeitraum: {d.issued.month:02d}/{d.issued.year}" if rng.random() < 0.3 else "",
        "",
        "Pos. | Bezeichnung | Menge | Einzelpreis | Gesamt",
    ]
    for i, (desc, q, u, t) in enumerate(d.items, 1):
        lines.append(f"{i} | {desc} | {q} | {d.money(u)} | {d.money(t)}")
    lines += ["", f"Nettobetrag: {d.money(d.subtotal)}"]
    if d.tax:
        lines.append(f"zzgl. {TAX[v.country][1] * 100:g}% {TAX[v.country][0]}: {d.money(d.tax)}")
    lines.append(
        f"{rng.choice(['Gesamtbetrag', 'Rechnungsbetrag', 'Summe brutto'])}: {d.money(d.total)}"
    )
    lines += [
        "",
        "Zahlbar innerhalb von 14 Tagen ohne Abzug.",
        "",
        "Mit freundlichen Grüßen",
        v.name,
    ]
    return "\n".join(x for i, x in enumerate(lines) if x or (i and lines[i - 1]))


def layout_facture(d: Doc, rng: random.Random) -> str:
    v = d.vendor
    lines = [
        _from_line(v, rng),
        f"Objet : Facture {d.number}",
        "",
        "Bonjour,",
        "",
        "Veuillez trouver ci-dessous votre facture.",
        "",
        v.name,
        v.address,
        "",
        f"Facture n° {d.number}",
        f"Date : {d.day()}",
        "",
    ]
    for desc, q, u, t in d.items:
        lines.append(f"{desc} — {q} × {d.money(u)} = {d.money(t)}")
    lines += ["", f"Total HT : {d.money(d.subtotal)}"]
    if d.tax:
        lines.append(f"{TAX[v.country][0]} {TAX[v.country][1] * 100:g} % : {d.money(d.tax)}")
    lines.append(f"{rng.choice(['Total TTC', 'Net à payer'])} : {d.money(d.total)}")
    lines += ["", "Cordialement,", v.name]
    return "\n".join(lines)


LAYOUTS = {
    "invoice": layout_invoice,
    "receipt": layout_receipt,
    "order": layout_order,
    "saas": layout_saas,
    "prose": layout_prose,
    "rechnung": layout_rechnung,
    "facture": layout_facture,
}
LAYOUTS_BY_KIND = {
    "cafe": ["receipt"],
    "restaurant": ["receipt"],
    "bakery": ["receipt"],
    "saas": ["saas", "invoice"],
    "hosting": ["saas", "invoice"],
    "hardware": ["receipt", "order", "invoice"],
    "electronics": ["order", "receipt"],
    "office": ["order", "invoice"],
    "print": ["invoice", "order", "prose"],
    "consulting": ["invoice", "prose"],
    "design": ["invoice", "prose"],
}


def pick_layout(v: Vendor, rng: random.Random) -> str:
    if v.country == "DE" and rng.random() < 0.75:
        return "rechnung"
    if v.country == "FR" and rng.random() < 0.75:
        return "facture"
    return rng.choice(LAYOUTS_BY_KIND[v.kind])


def forward(text: str, rng: random.Random) -> str:
    """Wrap a vendor's email as a colleague forwarding it; the forward's own date is not the
    document's date."""
    note = rng.choice(
        [
            "fyi - can you file this one?",
            "Please log this in the expenses sheet.",
            "Forwarding for reimbursement, thanks!",
            "see below",
            "For the Q3 books.",
        ]
    )
    sent = rnd_date(rng)
    return (
        f"{note}\n\n---------- Forwarded message ---------\n"
        f"Date: {MONTHS_EN[sent.month - 1][:3]} {sent.day}, {sent.year}\n{text}"
    )


def gold(d: Doc) -> dict:
    return {
        "vendor": d.vendor.name,
        "invoice_number": d.number,
        "date": d.issued.isoformat(),
        "currency": CURRENCY[d.vendor.country],
        "total": d.total,
        "line_items": [
            {"description": desc, "quantity": q, "amount": t} for desc, q, _u, t in d.items
        ],
    }


def make_record(i: int, rng: random.Random) -> dict:
    v = rng.choice(VENDORS)
    layout = pick_layout(v, rng)
    d = make_doc(v, layout, rng)
    text = LAYOUTS[layout](d, rng)
    if rng.random() < 0.12:
        text = forward(text, rng)
    lang = {"rechnung": "de", "facture": "fr"}.get(layout, "en")
    return {"id": f"inv-{i:04d}", "text": text, "lang": lang, "layout": layout, "gold": gold(d)}


def generate(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [make_record(i + 1, rng) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=320, help="number of emails (default 320)")
    ap.add_argument("--seed", type=int, default=20251124)
    ap.add_argument("--out", type=Path, default=HERE / "inputs.jsonl")
    args = ap.parse_args()
    rows = generate(args.n, args.seed)
    with args.out.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} emails to {args.out}")


if __name__ == "__main__":
    main()
