"""Question -> retrieved images -> evidence lines -> local model -> checked answer.

The Answerer retrieves the best images for the question (the retrieval function is injected:
the app passes its hybrid Searcher), picks the lines of their text that bear on the question
(evidence.py: OCR lines, QR payloads and notes, captions, each with its box), and gives the
model those lines, not whole pages, as numbered sources [1]..[N] (and the pictures themselves
when the model has vision), asking it to answer from them or to say they do not hold it.

The model's answer is then checked: it is shown as the answer only when its key tokens (its
numbers and words) are in an evidence line of an image that holds what the question names.
Otherwise, for a question about a value (an amount, a date, a phone number, an e-mail or web
address, a code), the value read from the best evidence line is given instead; and when
nothing supports an answer, the reply says so plainly and lists the closest images. The
evidence is part of every answer, whatever the model said. `AnswerStream` yields the model's
draft as it is generated; `Answer.text` is the checked answer.

No Qt here: the Ask panel runs `Answerer.stream` on a worker thread and forwards the chunks.
"""

from __future__ import annotations

import datetime as _dt
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from imgrag_desktop import evidence as ev
from imgrag_desktop.types import Answer, DecodeError, Hit, ImgragError

Retrieve = Callable[[str, int], Sequence[Hit]]

SYSTEM_PROMPT = (
    "You answer questions about the user's own pictures (photos and screenshots). Below are numbered "
    "sources: each is one picture with its file name and the lines of text from it that best match the "
    "question{images_clause}. Answer only from these lines: copy the value or words that answer the question "
    "exactly as they are written, and cite the picture by its number in square brackets, like [1]. If the "
    "lines do not hold the answer, say: The pictures do not show it. Answer briefly."
)
IMAGES_CLAUSE = ", followed by the picture itself"
TEXT_ONLY_NOTE = ("\n\n(Answered from the text read from the images and their captions only: the images "
                  "themselves were not looked at, because {model} is a text-only model.)")
NOTHING_FOUND = "No indexed picture matches this question, so the pictures cannot answer it."
DONT_KNOW = ("I don't know: no line of text in the closest pictures holds the answer{why}. "
             "The closest pictures are listed below, to look at yourself.")
EXTRACTED = "{value} (read from the text of {name}: \u201c{line}\u201d)"
POOL_FACTOR, POOL_MIN = 3, 12  # images retrieved, of which those that name what is asked are given
EVIDENCE_LINES = 8  # lines given to the model (and checked against its answer)
EVIDENCE_SHOWN = 6  # lines shown under the answer
_CITE = re.compile(r"\[(\s*\d+(?:\s*(?:,|;|-|–|and)\s*\d+)*\s*)\]")


@dataclass
class Source:
    """One numbered source as the model sees it."""

    n: int
    hit: Hit
    name: str
    date: str
    kind: str
    ocr_text: str
    caption: str
    image_uri: str = ""
    note: str = ""
    ocr_words: str = ""
    meta: str = ""  # title, description, tags the owner wrote (evidence.meta_text)
    evidence: list[str] | None = None  # the evidence lines from this picture, best first

    def block(self, ocr_chars: int | None = None) -> str:
        meta = ", ".join(x for x in (self.kind, self.date) if x)
        lines = [f"[{self.n}] {self.name}" + (f" ({meta})" if meta else "")]
        if self.evidence is not None:
            chosen = self.evidence
            if ocr_chars is not None:  # fitting a small context: fewer lines
                chosen = chosen[: max(1, ocr_chars // 150)]
            lines.extend(f"- {_clip(t, 200)}" for t in chosen)
            if not chosen:
                lines.append("- (no line of its text matches the question)")
            if self.note:
                lines.append(self.note)
            return "\n".join(lines) + "\n"
        ocr = self.ocr_text if ocr_chars is None else _clip(self.ocr_text, ocr_chars)
        if self.caption:
            lines.append(f"Caption: {self.caption}")
        lines.append(f"Text in the picture: {ocr}" if ocr.strip() else "Text in the picture: (none)")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines) + "\n"


def _clip(text: str, chars: int) -> str:
    text = " ".join((text or "").split())
    if len(text) <= chars:
        return text
    return text[: max(0, chars - 1)].rstrip() + "…"


def parse_citations(text: str, n_sources: int) -> list[int]:
    """Source numbers cited as [n], [n, m], [n-m] or [n][m], in order of first mention."""
    seen: list[int] = []
    for match in _CITE.finditer(text):
        body = match.group(1)
        nums: list[int] = []
        for part in re.split(r"\s*(?:,|;|and)\s*", body.strip()):
            if re.fullmatch(r"\d+\s*[-–]\s*\d+", part):
                a, b = (int(x) for x in re.split(r"\s*[-–]\s*", part))
                if 0 < b - a < 20:
                    nums.extend(range(a, b + 1))
                    continue
            if part.strip().isdigit():
                nums.append(int(part))
        for n in nums:
            if 1 <= n <= n_sources and n not in seen:
                seen.append(n)
    return seen


def cite(text: str, source_paths: Sequence[str]) -> tuple[list[str], bool]:
    """(cited paths, whether the answer cited them by number). An answer that cites no source
    by number is attributed to every picture it was given."""
    numbers = parse_citations(text, len(source_paths))
    if numbers:
        return [source_paths[n - 1] for n in numbers], True
    return list(source_paths), False


class AnswerStream:
    """Iterate for the answer's text chunks; `answer` is set once iteration has finished.

    `cancel()` (or setting the Event passed to Answerer.stream) stops generation after the
    current token; the partial answer is kept and `cancelled` is True.
    """

    def __init__(self, gen_factory: Callable[["AnswerStream"], Iterator[str]], cancel: threading.Event) -> None:
        self._cancel = cancel
        self.answer: Answer | None = None
        self.cancelled = False
        self.cited_explicitly = False
        self.stats: Any = None
        self._gen = gen_factory(self)

    def __iter__(self) -> "AnswerStream":
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        self._gen.close()  # type: ignore[attr-defined]  # gen_factory makes a generator

    def result(self) -> Answer:
        """Run to the end (if not done yet) and return the final Answer."""
        for _ in self:
            pass
        assert self.answer is not None
        return self.answer


class Answerer:
    """Answers questions from the indexed images with a local model.

    `vlm` is a LocalVLM, or a zero-argument callable returning one (so a missing model is only
    reported when a question is asked). `retrieve(question, k)` returns ranked hits.
    """

    def __init__(self, store: Any, vlm: Any, retrieve: Retrieve, *, images: int = 4, image_side: int = 512,
                 max_tokens: int = 320, temperature: float = 0.1, ocr_chars: int = 1200) -> None:
        self.store = store
        self._vlm = vlm
        self.retrieve = retrieve
        self.images = images
        self.image_side = image_side
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.ocr_chars = ocr_chars

    def model(self) -> Any:
        vlm = self._vlm
        if callable(vlm) and not hasattr(vlm, "stream"):
            vlm = vlm()
        return vlm

    # Public API ---------------------------------------------------------------------------
    def stream(self, question: str, *, images: int | None = None, cancel: threading.Event | None = None) -> AnswerStream:
        """Start answering; raises ImgragError/ModelUnavailable now for problems known upfront
        (empty question, nothing indexed, no model)."""
        question = " ".join((question or "").split())
        if not question:
            raise ImgragError("the question is empty: ask something, e.g. imgrag ask \"which e-mail addresses are shown?\"")
        n_images = max(1, int(images if images is not None else self.images))
        vlm = self.model()
        vlm.inspect()  # header check: a missing or broken model fails before any work
        if self.store.count() == 0:
            raise ImgragError("nothing is indexed yet: run `imgrag index FOLDER` first")
        cancel = cancel or threading.Event()
        return AnswerStream(lambda s: self._run(s, vlm, question, n_images, cancel), cancel)

    def ask(self, question: str, *, images: int | None = None, cancel: threading.Event | None = None,
            on_text: Callable[[str], None] | None = None) -> Answer:
        s = self.stream(question, images=images, cancel=cancel)
        for chunk in s:
            if on_text is not None:
                on_text(chunk)
        assert s.answer is not None
        return s.answer

    # Work ---------------------------------------------------------------------------------
    def _sources(self, hits: Sequence[Hit], vision: bool, cancel: threading.Event) -> list[Source]:
        rows = self.store.rows([h.path for h in hits],
                               ["path", "name", "kind", "date", "taken_at", "ocr_text", "ocr_words", "caption", "mtime_ns",
                                *ev.META_COLUMNS])
        out: list[Source] = []
        for hit in hits:
            if cancel.is_set():
                break
            row = rows.get(hit.path, {})
            when = row.get("taken_at") or row.get("date") or hit.taken_at or hit.mtime or None
            date = _dt.datetime.fromtimestamp(float(when)).strftime("%Y-%m-%d %H:%M") if when else ""
            src = Source(n=len(out) + 1, hit=hit, name=row.get("name") or Path(hit.path).name, date=date,
                         kind=row.get("kind") or hit.kind or "", ocr_text=row.get("ocr_text") or hit.ocr_text or "",
                         caption=row.get("caption") or hit.caption or "", ocr_words=row.get("ocr_words") or "",
                         meta=ev.meta_text(row))
            if vision:
                try:
                    from imgrag_desktop.imaging import decode_path
                    from imgrag_desktop.models.vlm import image_data_uri

                    decoded, _ = decode_path(hit.path, max_side=self.image_side)
                    src.image_uri = image_data_uri(decoded.image, self.image_side)
                except (DecodeError, OSError) as exc:
                    src.note = f"(The picture file cannot be read now: {exc}.)"
            out.append(src)
        return out

    def _pick(self, question: str, pool: list[Hit], n: int) -> list[Hit]:
        """The n images to answer from: retrieval's best, moved up when their text holds the
        words the question names (the receipt of the shop it names, ahead of one that only
        looks alike); retrieval order otherwise."""
        if len(pool) <= 1:
            return pool[:n]
        rows = self.store.rows([h.path for h in pool], ["path", "ocr_text", "ocr_words", "caption", *ev.META_COLUMNS])
        found = ev.gather(question, ev.rows_lines(rows, [h.path for h in pool]), limit=1)
        order = sorted(range(len(pool)), key=lambda i: (-found.grounded(pool[i].path),
                                                      -round(found.anchor_share.get(pool[i].path, 0.0), 2), i))
        return [pool[i] for i in order[:n]]

    def _fit(self, vlm: Any, sources: list[Source], question: str, system: str) -> tuple[list[Source], int, int]:
        """Trim OCR text (and, if need be, drop images) so the prompt fits the context window."""
        fixed = vlm.count_tokens(system + "\nQuestion: " + question) + 16  # loads the model
        n_ctx = int(vlm.n_ctx)
        per_image = vlm.image_tokens() if vlm.has_vision else 0
        answer_room = min(self.max_tokens, max(32, n_ctx // 4))
        budget = n_ctx - answer_room - fixed
        if budget < 48:
            raise ImgragError(f"the model's context ({n_ctx} tokens) is too small for a question with sources: "
                              "raise vlm_n_ctx in settings.json")
        while any(s.image_uri for s in sources) and sum(1 for s in sources if s.image_uri) * per_image > budget * 0.7:
            # Too many pictures for this context: drop the lowest-ranked image (its text stays).
            last = max(i for i, s in enumerate(sources) if s.image_uri)
            sources[last].image_uri = ""
            sources[last].note = "(Picture not attached: the model's context is too small for more pictures.)"
        budget -= sum(1 for s in sources if s.image_uri) * per_image
        chars = self.ocr_chars
        while chars > 40:
            used = sum(vlm.count_tokens(s.block(chars)) for s in sources)
            if used <= budget:
                break
            chars = int(chars * 0.7)
        while len(sources) > 1 and sum(vlm.count_tokens(s.block(chars)) for s in sources) > budget:
            sources = sources[:-1]
        return sources, chars, answer_room

    def _messages(self, sources: list[Source], question: str, system: str, chars: int,
                  given: Sequence["ev.EvidenceLine"] | None = None) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        if given is not None:
            # The evidence lines in one list, best first, each with its picture's number: a
            # small model copies from the top of such a list far better than it searches pages.
            number = {s.hit.path: s.n for s in sources}
            per_source = max(1, chars // 150) if chars < self.ocr_chars else len(given)
            used: dict[str, int] = {}
            rows = []
            for ln in given:
                if ln.path in number and used.get(ln.path, 0) < per_source:
                    used[ln.path] = used.get(ln.path, 0) + 1
                    rows.append(f"[{number[ln.path]}] {_clip(ln.text, 200)}")
            names = "; ".join(f"[{s.n}] {s.name}" for s in sources)
            parts.append({"type": "text", "text": f"Pictures: {names}\nLines of text from them, best match first:\n"
                                                  + ("\n".join(rows) or "(no line of their text matches the question)")
                                                  + "\n"})
            for s in sources:
                if s.image_uri:
                    parts.append({"type": "text", "text": f"[{s.n}] {s.name}:"})
                    parts.append({"type": "image_url", "image_url": {"url": s.image_uri}})
            parts.append({"type": "text", "text": f"\nQuestion: {question}"})
        else:
            for s in sources:
                parts.append({"type": "text", "text": s.block(chars)})
                if s.image_uri:
                    parts.append({"type": "image_url", "image_url": {"url": s.image_uri}})
            parts.append({"type": "text", "text": f"\nQuestion: {question}"})
        if not any(p["type"] == "image_url" for p in parts):
            # Text-only chat templates expect a string, not a list of parts.
            return [{"role": "system", "content": system},
                    {"role": "user", "content": "".join(p["text"] for p in parts)}]
        return [{"role": "system", "content": system}, {"role": "user", "content": parts}]

    def _run(self, stream: AnswerStream, vlm: Any, question: str, n_images: int, cancel: threading.Event) -> Iterator[str]:
        hits = self._pick(question, list(self.retrieve(question, max(n_images * POOL_FACTOR, POOL_MIN))), n_images)
        if not hits:
            stream.answer = Answer(text=NOTHING_FOUND, citations=[], model=vlm.spec.display_name,
                                   looked_at_images=False, sources=[], status="unknown")
            yield NOTHING_FOUND
            return
        vision = bool(vlm.has_vision)
        sources = self._sources(hits, vision, cancel)
        found = ev.gather(question, [(s.hit.path, ev.image_lines(s.hit.path, s.ocr_text, s.ocr_words, s.caption, s.meta))
                                     for s in sources])
        given = found.top(EVIDENCE_LINES)
        for s in sources:
            s.evidence = [ln.text for ln in given if ln.path == s.hit.path]
        system = SYSTEM_PROMPT.format(images_clause=IMAGES_CLAUSE if vision else "")
        sources, chars, answer_room = self._fit(vlm, sources, question, system)
        messages = self._messages(sources, question, system, chars, given)
        looked = any(s.image_uri for s in sources)
        text = ""
        if not cancel.is_set():
            for chunk in vlm.stream(messages, max_tokens=answer_room, temperature=self.temperature, cancel=cancel):
                text += chunk
                yield chunk
        stream.stats = vlm.last_stats
        stream.cancelled = cancel.is_set()
        paths = [s.hit.path for s in sources]
        citations, stream.cited_explicitly = cite(text, paths)
        kept = {s.hit.path for s in sources}
        answer = check(question, text, found, [ln for ln in given if ln.path in kept], paths,
                       cancelled=stream.cancelled)
        if answer.status == "supported" and stream.cited_explicitly:
            quote_path = answer.citations[0]
            answer.citations = [quote_path] + [p for p in citations if p != quote_path]
        if not vision:  # also under "I don't know": the picture may show what its text does not
            answer.text += TEXT_ONLY_NOTE.format(model=vlm.spec.display_name)
        answer.model = vlm.spec.display_name
        answer.looked_at_images = looked
        answer.sources = [s.hit for s in sources]
        stream.answer = answer


def check(question: str, model_text: str, found: "ev.Evidence", given: Sequence["ev.EvidenceLine"],
          paths: Sequence[str], *, cancelled: bool = False) -> Answer:
    """The answer to show for what the model said: its own when an evidence line supports it,
    else the value read from the evidence (value questions), else an honest "I don't know"
    citing the closest pictures. `given` are the lines the model saw."""
    draft = model_text.strip()
    shown = found.to_json(EVIDENCE_SHOWN)
    base: dict[str, Any] = {"model_text": draft, "evidence": shown}
    if cancelled:
        return Answer(text=draft or "(cancelled before the model answered)", citations=list(paths),
                      status="unchecked", **base)
    bare = _CITE.sub(" ", draft)
    line = None if (not bare.strip() or ev.says_not_found(bare)) else ev.supporting_line(bare, found, given)
    got = ev.extract_value(found)
    if line is not None and (got is None or got[1] is line or _same_value(got[0], bare, found.kind)
                             or found.kind not in ev.VALUE_PATTERNS):
        return Answer(text=draft, citations=[line.path], status="supported", extracted=got[0] if got else "",
                      quote={"path": line.path, "text": line.text, "box": line.box}, **base)
    if got is not None:
        # The model's answer is in no evidence line, or (a value question) in a line that matches
        # the question less well than the one this value is read from: the value is given, and
        # what the model said is kept next to it.
        value, ln = got
        text = EXTRACTED.format(value=value, name=Path(ln.path).name, line=ln.text)
        if line is not None:
            text += f"\n(The model answered \u201c{_clip(bare, 80)}\u201d, from the line \u201c{_clip(line.text, 80)}\u201d.)"
        return Answer(text=text, citations=[ln.path], status="extracted", extracted=value,
                      quote={"path": ln.path, "text": ln.text, "box": ln.box}, **base)
    if found.anchors and not any(found.grounded(p) for p in paths):
        why = " (none of them mentions " + ", ".join(f"\u201c{a}\u201d" for a in found.anchors[:4]) + ")"
    else:
        why = ""
    return Answer(text=DONT_KNOW.format(why=why), citations=list(paths), status="unknown", **base)


def _same_value(value: str, answer: str, kind: str) -> bool:
    """Whether an answer states this value (by its digits for numbers, else as text)."""
    digits = re.sub(r"\D", "", value)
    if kind in ("amount", "phone", "date", "code") and len(digits) >= 2:
        return digits in re.sub(r"\D", "", ev.clean_ocr(answer))
    return value.lower().replace(" ", "") in answer.lower().replace(" ", "")


def answer_to_json(answer: Answer, stream: AnswerStream | None = None) -> dict[str, Any]:
    """What `imgrag ask --json` prints."""
    out: dict[str, Any] = {
        "answer": answer.text,
        "citations": list(answer.citations),
        "model": answer.model,
        "looked_at_images": answer.looked_at_images,
        "sources": [{"n": i + 1, "path": h.path, "score": round(float(h.score), 6)} for i, h in enumerate(answer.sources)],
        "status": answer.status,
        "supported": answer.status in ("supported", "extracted"),
        "model_answer": answer.model_text,
        "extracted": answer.extracted or None,
        "quote": answer.quote,
        "evidence": list(answer.evidence),
    }
    if stream is not None:
        out["cited_explicitly"] = stream.cited_explicitly
        out["cancelled"] = stream.cancelled
        st = stream.stats
        if st is not None:
            out["stats"] = {"prompt_tokens": st.prompt_tokens, "tokens": st.tokens, "seconds": round(st.seconds, 3),
                            "first_token_s": round(st.first_token_s, 3), "tokens_per_s": round(st.tokens_per_s, 2)}
    return out
