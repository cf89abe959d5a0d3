"""Regenerate the bundled samples (sentiment.csv, ner.conll) deterministically.

Written by the project from small phrase banks, so no third-party dataset (or licence) is involved.
Run: python samples/make_samples.py
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 1234

# --- sentiment ---------------------------------------------------------------
DOMAINS = {
    "product": {
        "things": ["this blender", "the headphones", "this phone case", "the vacuum", "this laptop bag",
                   "the coffee maker", "these running shoes", "the desk lamp", "this keyboard", "the charger",
                   "this backpack", "the kettle", "these earbuds", "the office chair", "this toaster"],
        "aspects": ["battery life", "build quality", "price", "sound", "design", "packaging", "delivery",
                    "customer support", "instructions", "material"],
    },
    "movie": {
        "things": ["this movie", "the film", "the sequel", "this documentary", "the new thriller",
                   "this comedy", "the series finale", "the animated feature", "this horror flick", "the remake"],
        "aspects": ["acting", "plot", "soundtrack", "ending", "dialogue", "pacing", "cinematography",
                    "script", "lead actor", "special effects"],
    },
    "restaurant": {
        "things": ["this restaurant", "the pizza place", "the sushi bar", "this cafe", "the bistro downtown",
                   "the taco truck", "this bakery", "the steakhouse", "the noodle shop", "this diner"],
        "aspects": ["service", "food", "staff", "portions", "atmosphere", "dessert", "wine list",
                    "waiting time", "menu", "coffee"],
    },
}
POS_ADJ = ["great", "excellent", "fantastic", "wonderful", "superb", "lovely", "brilliant", "solid",
           "impressive", "delightful", "outstanding", "amazing", "reliable", "charming", "perfect"]
NEG_ADJ = ["terrible", "awful", "disappointing", "poor", "dreadful", "mediocre", "useless", "boring",
           "horrible", "flimsy", "bland", "broken", "overpriced", "annoying", "unbearable"]
POS_NEGATED = ["not bad", "not bad at all", "never disappointing", "not boring for a second", "not overpriced"]
NEG_NEGATED = ["not good", "not worth it", "not great", "never enjoyable", "not impressive at all"]
POS_VERB = ["I loved", "I really enjoyed", "I would recommend", "I am thrilled with", "We adored",
            "My family loves", "I keep coming back to", "I highly recommend"]
NEG_VERB = ["I hated", "I regret buying", "I would not recommend", "I am fed up with", "We disliked",
            "I returned", "I will avoid", "Nobody should bother with"]
POS_TAIL = ["Worth every penny.", "Five stars from me.", "Would buy again.", "Exceeded my expectations.",
            "Highly recommended!", "Can't wait to go back.", "Made my day.", "A real gem."]
NEG_TAIL = ["Waste of money.", "One star.", "Never again.", "Fell apart after a week.",
            "Save yourself the trouble.", "What a letdown.", "Asked for a refund.", "Stay away."]
FILLER = ["Honestly,", "To be fair,", "After two weeks,", "Overall,", "I have to say", "Frankly,", "", "", ""]


def _review(rng: random.Random, positive: bool) -> str:
    dom = DOMAINS[rng.choice(list(DOMAINS))]
    thing, aspect = rng.choice(dom["things"]), rng.choice(dom["aspects"])
    adj = POS_ADJ if positive else NEG_ADJ
    other = NEG_ADJ if positive else POS_ADJ
    negated = POS_NEGATED if positive else NEG_NEGATED
    verb = POS_VERB if positive else NEG_VERB
    tail = POS_TAIL if positive else NEG_TAIL
    filler = rng.choice(FILLER)
    shape = rng.randrange(8)
    if shape == 0:
        text = f"{filler} {thing} is {rng.choice(adj)} and the {aspect} is {rng.choice(adj)}."
    elif shape == 1:
        text = f"{verb[rng.randrange(len(verb))]} {thing}. The {aspect} was {rng.choice(adj)}. {rng.choice(tail)}"
    elif shape == 2:
        text = f"The {aspect} was {rng.choice(negated)}, and {thing} turned out {rng.choice(adj)}."
    elif shape == 3:
        text = (f"I expected {thing} to be {rng.choice(other)}, but it was actually {rng.choice(adj)}. "
                f"The {aspect} in particular was {rng.choice(adj)}.")
    elif shape == 4:
        text = f"{rng.choice(tail)} {thing.capitalize()} has {rng.choice(adj)} {aspect}."
    elif shape == 5:
        text = f"{filler} {rng.choice(verb)} {thing}; {rng.choice(negated)}."
    elif shape == 6:
        a2 = rng.choice([a for d in DOMAINS.values() for a in d["aspects"]])
        text = (f"{thing.capitalize()}: {rng.choice(adj)} {aspect}, {rng.choice(adj)} {a2}, "
                f"and honestly {rng.choice(negated)}. {rng.choice(tail)}")
    else:
        text = f"{rng.choice(adj).capitalize()} {aspect}, {rng.choice(adj)} overall. {rng.choice(tail)}"
    text = " ".join(text.split())
    return text[0].upper() + text[1:]


def make_sentiment(n: int = 400) -> list[tuple[str, str]]:
    rng = random.Random(SEED)
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(rows) < n:
        positive = len(rows) % 2 == 0
        text = _review(rng, positive)
        if text in seen:
            continue
        seen.add(text)
        rows.append((text, "positive" if positive else "negative"))
    rng.shuffle(rows)
    return rows


# --- NER -----------------------------------------------------------------------
PER = ["John Smith", "Maria Garcia", "Angela Merkel", "Li Wei", "Ahmed Khan", "Sarah O'Neil", "Pierre Dubois",
       "Yuki Tanaka", "Olga Petrova", "David", "Emma Watson", "Carlos Mendes", "Priya Patel", "Tom Hanks",
       "Fatima Zahra", "Lars Eriksen", "Ana Lucia Souza", "Kwame Mensah", "Grace Hopper", "Hans Mueller"]
ORG = ["Google", "Bank of America", "the United Nations", "Siemens", "Reuters", "Toyota", "Microsoft",
       "Red Cross", "Goldman Sachs", "Real Madrid", "the World Health Organization", "Airbus", "Nokia",
       "Stanford University", "Deutsche Bahn", "BBC", "Apple", "Unilever", "FIFA", "Amnesty International"]
LOC = ["New York", "Paris", "Berlin", "Tokyo", "the Amazon", "Lake Geneva", "South Africa", "Mount Everest",
       "Rio de Janeiro", "London", "California", "Nairobi", "Buenos Aires", "Sydney", "the Alps", "Mumbai",
       "Hong Kong", "Canada", "Lisbon", "Cairo"]
MISC = ["English", "French", "the Olympics", "World Cup", "Nobel Prize", "Christmas", "Japanese", "Euro",
        "the Grammy Awards", "Windows", "Brexit", "Ramadan", "iPhone", "German", "Tour de France"]
NER_TEMPLATES = [
    "{PER} joined {ORG} in {LOC} last year .",
    "{ORG} opened a new office in {LOC} on Monday .",
    "{PER} , a spokesperson for {ORG} , declined to comment .",
    "The {MISC} will be held in {LOC} next summer .",
    "{PER} won the {MISC} after a long career .",
    "Shares of {ORG} fell 3 percent in {LOC} trading .",
    "{PER} flew from {LOC} to {LOC} to meet {PER} .",
    "According to {ORG} , prices in {LOC} rose sharply .",
    "{PER} speaks fluent {MISC} and works for {ORG} .",
    "Fans in {LOC} celebrated as {ORG} won the {MISC} .",
    "\" We are very pleased , \" said {PER} of {ORG} .",
    "Police in {LOC} arrested two men on Tuesday .",
    "{ORG} and {ORG} signed a deal worth 2 billion dollars .",
    "{PER} was born in {LOC} in 1975 .",
    "The report by {ORG} criticised the {MISC} policy .",
    "Heavy rain hit {LOC} , officials said .",
    "{PER} met {PER} at the {MISC} summit in {LOC} .",
    "Tourists visiting {LOC} must pay in {MISC} .",
    "The weather was mild and quiet over the weekend .",
    "{PER} told {ORG} that the plan had failed .",
]


def _tokens(value: str, kind: str) -> list[tuple[str, str]]:
    words = value.split()
    # a leading lowercase "the" is not part of the entity in CoNLL-2003 style
    out: list[tuple[str, str]] = []
    if words[0] == "the":
        out.append(("the", "O"))
        words = words[1:]
    for i, word in enumerate(words):
        out.append((word, f"{'B' if i == 0 else 'I'}-{kind}"))
    return out


def make_ner(n: int = 300) -> list[list[tuple[str, str]]]:
    rng = random.Random(SEED + 1)
    pools = {"PER": PER, "ORG": ORG, "LOC": LOC, "MISC": MISC}
    sentences: list[list[tuple[str, str]]] = []
    seen: set[tuple[str, ...]] = set()
    i = 0
    while len(sentences) < n:
        template = NER_TEMPLATES[i] if i < len(NER_TEMPLATES) else rng.choice(NER_TEMPLATES)
        i += 1
        sent: list[tuple[str, str]] = []
        for piece in template.split():
            if piece.startswith("{") and piece.endswith("}"):
                kind = piece[1:-1]
                sent.extend(_tokens(rng.choice(pools[kind]), kind))
            else:
                sent.append((piece, "O"))
        if sent[0][0] == "the":  # sentence-initial capital
            sent[0] = ("The", "O")
        key = tuple(tok for tok, _ in sent)
        if key not in seen:
            seen.add(key)
            sentences.append(sent)
    return sentences


def main() -> None:
    with open(HERE / "sentiment.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["review", "sentiment"])
        writer.writerows(make_sentiment())
    lines = ["-DOCSTART- O", ""]
    for sent in make_ner():
        lines.extend(f"{tok} {tag}" for tok, tag in sent)
        lines.append("")
    (HERE / "ner.conll").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
