"""The simulated teacher's answers for support-ticket triage (`distill sim --answers tickets`).

It reads the ticket in the last user message and scores each category by the phrases it
contains, as a careful but imperfect reader would: words in an aside ("Also, ...", "P.S. ...")
count for less, and a ticket that names no topic at all gets an answer outside the label set.
It never sees a gold label (the prompt holds none), so it disagrees with the gold on a few
percent of tickets, systematically: the same ticket always gets the same answer at
temperature 0, which is what makes the teacher learnable by a student.

    >>> ticket = "<ticket>I was charged twice for order #4821937</ticket>"
    >>> req = SimRequest("openai", "m", None, [{"role": "user", "content": ticket}], {"temperature": 0})
    >>> answer(req, random.Random(0))
    'billing'

Like a real model, it sometimes formats its answer a little differently ("Category: billing",
"billing.", "BILLING"), deterministically by the ticket's text; the build's label normaliser
undoes that. At temperature > 0 it sometimes gives its second choice, more often when the two
top scores are close, so that self-consistency voting has something to decide. Its answer
token's top-K log-probabilities are its belief: softmax of the same scores (see `belief`).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import re
from typing import Any

from synth.sim.answers.registry import Believed

# The label set, in the order of prompts/support-ticket.yaml (a test keeps the two equal).
CATEGORIES = [
    "billing",
    "shipping",
    "refund",
    "account",
    "technical",
    "cancellation",
    "product_question",
    "complaint",
    "feedback",
    "security",
    "order_change",
    "warranty",
]

# What the teacher answers when no category's phrases appear at all: off the label set, as a
# real model asked to pick one of N labels sometimes is.
NO_SIGNAL_ANSWER = "other"

# The scale at which phrase scores read as log-odds when the teacher states its belief: the
# distribution over labels is softmax(score / BELIEF_TEMPERATURE), from the same scores that
# choose the answer (never from a gold label, which the teacher does not see).
BELIEF_TEMPERATURE = 1.0

# Weight of a sentence that is an aside, relative to one about the main issue.
ASIDE_WEIGHT = 0.4
ASIDE = re.compile(
    r"^\W*(also|ps|unrelated|on a separate note|on another note|oh and|btw|by the way"
    r"|side note|separately)\b",
    re.IGNORECASE,
)

# (pattern, weight) per category: regular expressions over the lower-cased ticket.
PHRASES: dict[str, list[tuple[str, float]]] = {
    "billing": [
        (r"(?<!holds a )(?<!full )\bcharg(e|ed|es|ing)\b", 2.0),
        (r"double[- ]charged|charged twice|charged me twice", 2.0),
        (r"\bbill(ed|ing)\b", 2.5),
        (r"\binvoices?\b", 2.5),
        (r"\breceipts?\b", 1.5),
        (r"\bpayments?\b", 1.5),
        (r"\bdeclined\b", 2.0),
        (r"card (on file|ending)", 1.5),
        (r"\bstatement\b", 1.5),
        (r"\bvat\b|tax[- ]exempt|sales tax", 2.0),
        (r"promo code|discount", 1.0),
        (r"\bprice\b", 1.0),
        (r"authori[sz]ation hold", 2.0),
        (r"gift card", 1.0),
        (r"overdue", 2.0),
        (r"\bpaid\b|\bpay\b", 0.5),
        (r"foreign transaction fee", 2.0),
        (r"go up|went up|\bannual\b|\bmonthly\b", 1.5),
        (r"amount taken|taken from my account", 2.5),
        (r"cobrad|cobro|cargo\b|cobrança|factura|nota fiscal", 2.5),
        (r"débité|prélèvement|factur", 2.5),
        (r"abgebucht|belastung|rechnung|ust-idnr", 2.5),
    ],
    "shipping": [
        (r"\btrack(ing)?\b", 2.0),
        (r"\bdeliver(ed|y|ies)?\b", 1.5),
        (r"\b(shipped|dispatched|ship)\b", 1.5),
        (r"\bparcel|package\b", 2.0),
        (r"\b(ups|fedex|dhl|usps|royal mail|dpd|canada post|courier|driver)\b", 1.5),
        (r"customs", 2.5),
        (r"in transit|on its way", 2.0),
        (r"\barriv(e|ed|al)\b", 1.5),
        (r"where('s| is) my (order|package|parcel)", 3.0),
        (r"pickup point|depot|sorting cent", 1.5),
        (r"next-day|express delivery", 1.0),
        (r"po box", 1.0),
        (r"label created", 1.5),
        (r"nobody home|no one home|nobody showed", 2.0),
        (r"returned to sender", 1.0),
        (r"where it is|\bboxes\b|left a card", 2.0),
        (r"still waiting", 1.0),
        (r"seguimiento|paquete|llegar|entregado|rastreamento|entregue|chegado|cadê", 2.0),
        (r"\bcolis\b|livr|suivi", 2.0),
        (r"\bpaket\b|sendungsverfolgung|zugestellt|ankommen", 2.0),
    ],
    "refund": [
        (r"\brefund(s|ed|ing)?\b", 3.0),
        (r"money back|my money", 3.0),
        (r"\breturn(ed|ing|s)?\b", 2.0),
        (r"sent (it|the .{1,40}) back|send it back", 2.0),
        (r"store credit", 2.0),
        (r"\bgot \S{1,12} back\b", 2.5),
        (r"return (label|window)", 1.0),
        (r"\brma\b", 1.0),
        (r"reembolso|devolv|dinero|dinheiro de volta", 2.5),
        (r"rembours|retourner|renvoyé", 2.5),
        (r"erstattung|zurückgeschickt|zurückgeben|geld zurück", 2.5),
    ],
    "account": [
        (r"\blog ?in\b|\blogin\b|\bsign(ed)?[ -]?in\b", 2.0),
        (r"\bpassword\b", 2.0),
        (r"\baccounts?\b", 1.0),
        (r"\blocked\b", 1.5),
        (r"two-factor|2fa", 2.0),
        (r"username", 2.5),
        (r"email address|my email|work email", 1.5),
        (r"verification|activat(e|ion)", 2.0),
        (r"\bmerge\b", 2.0),
        (r"delete my account", 3.0),
        (r"personal data", 1.5),
        (r"\bprofile\b", 1.5),
        (r"phone number", 1.0),
        (r"marketing emails|account settings", 2.0),
        (r"second user", 2.5),
        (r"loyalty points", 1.0),
        (r"sign(ing)? up|already registered", 1.5),
        (r"order history has disappeared", 1.5),
        (r"iniciar sesión|contraseña|cuenta", 2.0),
        (r"e-mail|correo electrónico", 1.5),
        (r"connecter|mot de passe|\bcompte\b", 2.0),
        (r"anmelden|anmeldeversuch|passwort|konto", 2.0),
        (r"\bconta\b|senha", 2.0),
    ],
    "technical": [
        (r"\bapp\b", 1.5),
        (r"crash(es|ed|ing)?\b", 3.0),
        (r"\berror\b|\bcode \d+|\be-?\d{2,}", 2.0),
        (r"\bbug\b", 2.0),
        (r"wi-?fi|bluetooth|\bpair(ing|ed)?\b|router", 2.5),
        (r"firmware", 3.0),
        (r"\bsync(ing|s)?\b|synchroni", 2.5),
        (r"disconnect|dropping off", 1.5),
        (r"\bblank\b|spins forever|won't load|freezes", 2.0),
        (r"\bapi\b", 3.0),
        (r"tech support|0x[0-9a-f]{4,}|\b[a-z]+_[a-z_]+\b", 2.0),
        (r"notifications", 1.5),
        (r"reinstall|factory reset|cache", 2.0),
        (r"voice commands|readings|controls work", 2.0),
        (r"network", 1.5),
        (r"upload", 1.0),
        (r"aplicación|aplicativo|se cierra|fecha sozinho", 2.0),
        (r"application|plante", 2.0),
        (r"stürzt|wlan|fehler", 2.0),
        (r"\berro\b|erreur", 2.0),
    ],
    "cancellation": [
        (r"\bcancel(l?ed|l?ing|s|lation)?\b", 3.0),
        (r"unsubscribe", 3.0),
        (r"auto[- ]?renew(al)?", 3.0),
        (r"end my [\w ]{0,20}(subscription|membership|plan)", 2.0),
        (r"not (be )?charged again", 1.5),
        (r"\bend my\b", 2.0),
        (r"\bpause\b", 1.5),
        (r"stop my", 2.0),
        (r"subscription", 1.5),
        (r"membership", 1.5),
        (r"free trial", 1.5),
        (r"recurring", 1.5),
        (r"switching suppliers", 1.0),
        (r"cancelar|dar de baja|den de baja|anular|suscripción|assinatura", 2.5),
        (r"résilier|annuler|abonnement|adhésion", 2.5),
        (r"kündigen|stornieren|\babo\b|mitgliedschaft", 2.5),
    ],
    "product_question": [
        (r"does the .{1,40} (work|come|have)", 2.5),
        (r"dimensions", 3.0),
        (r"available in|come in", 2.5),
        (r"back in stock|in stock", 3.0),
        (r"difference between", 3.0),
        (r"dishwasher safe", 3.0),
        (r"battery (life|on the)", 2.0),
        (r"uk plug|adapter", 2.0),
        (r"outdoors", 2.0),
        (r"which size", 3.0),
        (r"made of", 2.5),
        (r"how loud", 3.0),
        (r"spare parts", 2.5),
        (r"weight limit", 3.0),
        (r"compatible", 2.5),
        (r"waterproof", 2.5),
        (r"before i (buy|order)", 2.5),
        (r"counter space", 2.0),
        (r"without an extra hub", 1.0),
        (r"thinking of buying", 2.5),
        (r"spec sheet|product description", 2.5),
        (r"do i need a", 2.0),
        (r"replaceable|how often", 2.5),
        (r"\bin [a-z ]{3,12}\?", 2.0),
        (r"last on a full charge", 2.0),
        (r"compatible|compatível|kompatibel|cuánto dura|quanto tempo dura|wie lange hält", 2.5),
        (r"disponible|en stock|lieferbar|estoque|autonomie", 2.5),
    ],
    "complaint": [
        (r"complain(t|ts|ing)?\b", 3.0),
        (r"\brude\b|unprofessional|dismissive", 3.0),
        (r"\bon hold\b", 2.5),
        (r"unacceptable", 1.5),
        (r"nobody (ever )?(answers|replies)|no one (answers|replies)|automated replies", 2.5),
        (r"disappointed", 1.5),
        (r"\ba manager\b", 1.5),
        # a bias real models share: strong anger reads as a complaint whatever the topic
        (r"frustrated|ridiculous|had enough|unbelievable|not happy|sort it out", 2.0),
        (r"chatbot", 2.0),
        (r"a human( being)?\b", 2.0),
        (r"worst (customer )?(service|experience)", 3.0),
        (r"misleading", 3.0),
        (r"aggressive", 3.0),
        (r"customer service", 1.5),
        (r"\btreated\b", 2.0),
        (r"apology", 1.5),
        (r"escalat", 1.5),
        (r"attitude", 1.5),
        (r"ignored", 1.5),
        (r"staff", 1.5),
        (r"without answering|someone senior", 2.5),
        (r"handled", 1.0),
        (r"different answer", 2.0),
        (r"queja|grosero|vergüenza", 3.0),
        (r"plainte|impoli|inadmissible", 3.0),
        (r"beschweren|unfreundlich|frechheit", 3.0),
        (r"reclamação|grosseiro|absurdo", 3.0),
    ],
    "feedback": [
        (r"suggestion|feature request", 3.0),
        (r"it would be (great|handy|nice)", 3.0),
        (r"would love|i'd love to see", 2.5),
        (r"dark mode", 2.5),
        (r"\blove\b", 1.5),
        (r"fantastic|brilliant|exceeded my expectations|kudos|great service", 2.5),
        (r"pass on my thanks", 2.5),
        (r"keep up the good work", 2.0),
        (r"\bidea\b", 2.0),
        (r"have you thought about", 2.5),
        (r"just (wanted to say|some feedback)", 3.0),
        (r"feedback", 3.0),
        (r"nice job|easier to use", 2.0),
        (r"minor thing|pass it on|recommended you to", 2.0),
        (r"(was|were|is) great\b|packaging|less plastic", 2.0),
        (r"helpful", 1.5),
        (r"sugerencia|sería genial|estupendo|sugestão|seria legal|ótimo", 3.0),
        (r"ce serait bien|excellent", 3.0),
        (r"vorschlag|wäre schön|großartig", 3.0),
    ],
    "security": [
        (r"phishing", 3.5),
        (r"hack(ed|er|ing)?\b", 3.5),
        (r"\bscam\b", 3.0),
        (r"wasn't me|it was not me", 2.5),
        (r"didn't (place|request|make)", 2.5),
        (r"suspicious|strange link|weird text", 2.5),
        (r"data breach", 3.0),
        (r"vulnerability", 3.5),
        (r"one-time code", 2.5),
        (r"sign-in alert|new-device", 2.5),
        (r"don't own|don't know", 1.0),
        (r"\bfake\b", 2.0),
        (r"fraud", 3.0),
        (r"some(one|body) (is using|logged|placed|changed)", 3.0),
        (r"secure my account", 2.0),
        (r"saved (card|address)|were changed to", 2.0),
        (r"block those orders|is legit", 2.0),
        (r"haven't clicked|frozen my card|changed my password", 2.5),
        (r"should i be worried", 2.0),
        (r"sospechoso|alguien ha entrado|no he hecho", 3.0),
        (r"suspect|quelqu'un s'est connecté|pas passées", 3.0),
        (r"verdächtig|jemand hat sich|nicht aufgegeben", 3.0),
        (r"suspeito|alguém acessou|não fiz", 3.0),
    ],
    "order_change": [
        (r"change (the )?(shipping |delivery )?address", 3.0),
        (r"wrong (colou?r|size|apartment)", 2.5),
        (r"switch it to", 2.0),
        (r"add (a|another|a second) [^.!?]{1,40} to\b", 3.0),
        (r"change the size", 3.0),
        (r"upgrade .{1,30}express", 2.5),
        (r"from my order", 3.0),
        (r"change the delivery date", 3.0),
        (r"combine my orders", 3.0),
        (r"gift message", 3.0),
        (r"change the quantity", 3.0),
        (r"\bswap\b", 2.0),
        (r"recipient name", 3.0),
        (r"before it (ships|goes out)", 2.0),
        (r"typed the wrong", 2.0),
        (r"add it to order", 2.0),
        (r"cambiar la dirección|añadir|talla", 2.5),
        (r"modifier l'adresse|ajouter|taille", 2.5),
        (r"lieferadresse|hinzufügen|größe", 2.5),
        (r"alterar o endereço|incluir|tamanho", 2.5),
    ],
    "warranty": [
        (r"warranty", 3.5),
        (r"guarantee", 3.0),
        (r"stopped working", 2.0),
        (r"won't turn on", 2.5),
        (r"\brepair\b", 2.0),
        (r"no longer holds", 2.5),
        (r"cracked|snapped|came apart", 2.0),
        (r"grinding|overheats|rattling|burnt", 2.0),
        (r"replacement", 1.0),
        (r"garant", 3.5),
        (r"dejó de funcionar|ne fonctionne plus|funktioniert .{0,10}nicht mehr", 2.0),
        (r"no enciende|s'allume|einschalten|não liga", 2.0),
        (r"parou de funcionar", 2.0),
    ],
}

_COMPILED = {cat: [(re.compile(p), w) for p, w in phrases] for cat, phrases in PHRASES.items()}
_PS = re.compile(r"\bP\.\s?S\.", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_TICKET_TAG = re.compile(r"<ticket>\s*(.*?)\s*</ticket>", re.DOTALL | re.IGNORECASE)
_TICKET_LABEL = re.compile(
    r"ticket:\s*(.*?)(?:\n\s*\n?\s*(answer|respond|reply)\b|\Z)", re.DOTALL | re.IGNORECASE
)


def ticket_text(message: str) -> str:
    """The ticket inside a user message: <ticket>...</ticket>, else after 'Ticket:', else all."""
    m = _TICKET_TAG.search(message) or _TICKET_LABEL.search(message)
    return m.group(1) if m else message


def scores(text: str) -> dict[str, float]:
    """Each category's phrase score over the ticket: a phrase counts once per sentence it is
    found in, and a sentence that is an aside counts for ASIDE_WEIGHT."""
    text = _PS.sub("PS", text).lower()  # "P.S." must not end a sentence
    starts, weights = [], []
    position = 0
    for sentence in _SENTENCE_END.split(text):
        position = text.find(sentence, position)
        starts.append(position)
        weights.append(ASIDE_WEIGHT if ASIDE.match(sentence) else 1.0)
        position += len(sentence)
    totals = dict.fromkeys(CATEGORIES, 0.0)
    for cat, phrases in _COMPILED.items():
        for pattern, w in phrases:
            hit = {bisect.bisect_right(starts, m.start()) - 1 for m in pattern.finditer(text)}
            totals[cat] += w * sum(weights[i] for i in hit)
    return totals


def ranked(text: str) -> list[tuple[str, float]]:
    """Categories by score, best first; ties go to the earlier category in CATEGORIES."""
    s = scores(text)
    return sorted(s.items(), key=lambda kv: (-kv[1], CATEGORIES.index(kv[0])))


def belief(text: str, temperature: float = BELIEF_TEMPERATURE) -> dict[str, float]:
    """The teacher's distribution over CATEGORIES for a ticket: softmax of its scores."""
    s = scores(text)
    top = max(s.values())
    weights = {cat: math.exp((v - top) / temperature) for cat, v in s.items()}
    total = sum(weights.values())
    return {cat: w / total for cat, w in weights.items()}


def classify(text: str) -> str:
    """The teacher's choice at temperature 0, before formatting (NO_SIGNAL_ANSWER if none)."""
    (best, top), *_ = ranked(text)
    return best if top > 0 else NO_SIGNAL_ANSWER


def _fraction(text: str) -> float:
    """A stable number in [0, 1) drawn from the text: the teacher's quirks, reproducibly."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def styled(label: str, u: float) -> str:
    """How the teacher writes its answer: the bare label mostly, a few variants a normaliser
    undoes, and, rarely, a hedge that names two labels and belongs to none."""
    if u < 0.015:
        return f"Category: {label}"
    if u < 0.027:
        return f"{label}."
    if u < 0.036:
        return label.upper()
    if u < 0.043:
        return f"{label.capitalize()}"
    if u < 0.048:
        return f'"{label}"'
    return label


def answer(req: Any, rng: random.Random) -> str:
    """The answer to one chat request: a category for the ticket in its last user message."""
    users = [m["content"] for m in req.messages if m.get("role") == "user"]
    text = ticket_text(users[-1] if users else "")
    ranking = ranked(text)
    (best, top), (second, runner_up) = ranking[0], ranking[1]
    if top <= 0:
        return NO_SIGNAL_ANSWER
    temperature = float((req.params or {}).get("temperature", 1.0))
    label = best
    if temperature > 0 and runner_up > 0:
        # closer calls flip more often; a hotter sampler flips more often
        p = min(0.5, 0.4 * temperature) * (runner_up / top)
        if rng.random() < p:
            label = second
    u = _fraction(text)
    believed = belief(text)  # what its answer token's top-K log-probabilities say
    if 0.995 <= u and runner_up > 0:
        return Believed(f"{best} or {second}", believed)
    return Believed(styled(label, u), believed)
