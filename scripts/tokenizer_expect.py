#!/usr/bin/python3
"""tokenizer_expect.py — reference ids and text from python3-sentencepiece, for tests/test_tokenizer.c.

Usage: tokenizer_expect.py MODEL CASES OUT [CORPUS [N]]
  MODEL   a SentencePiece tokenizer.model
  CASES   tests/tokenizer_cases.txt: one case per line between the first and last '|', with the
          escapes \\n \\t \\r \\\\ and \\xHH (one raw byte, so invalid UTF-8 can be written)
  CORPUS  optionally a TinyStories file: its first N stories (default 20) are cases too
Writes
  OUT.cases  one line per case: hex(text) TAB ids (space-separated, no BOS) TAB hex(decode(ids))
  OUT.vocab  one line per id:   hex(piece) TAB score (C99 hex float) TAB piece type (1 normal,
             2 unknown, 3 control, 5 unused, 6 byte — SentencePiece's numbers)
Exits 77 when sentencepiece cannot be imported (the test then skips).
"""
import sys

try:
    import sentencepiece
except ImportError:
    print("tokenizer_expect.py: python3-sentencepiece is missing (make deps-test)", file=sys.stderr)
    sys.exit(77)

ESCAPES = {"n": b"\n", "t": b"\t", "r": b"\r", "\\": b"\\"}


def unescape(text, where):
    """The case's bytes: UTF-8 text with the escapes above."""
    out = bytearray()
    i = 0
    raw = text.encode("utf-8")
    while i < len(raw):
        c = raw[i:i + 1]
        if c != b"\\":
            out += c
            i += 1
            continue
        e = raw[i + 1:i + 2].decode("ascii", "replace")
        if e == "x":
            out.append(int(raw[i + 2:i + 4], 16))
            i += 4
        elif e in ESCAPES:
            out += ESCAPES[e]
            i += 2
        else:
            sys.exit(f"tokenizer_expect.py: {where}: unknown escape \\{e}")
    return bytes(out)


def read_cases(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.startswith("|"):
                continue
            if len(line) < 2 or not line.endswith("|"):
                sys.exit(f"tokenizer_expect.py: {path}:{n}: a case must end with '|'")
            cases.append(unescape(line[1:-1], f"{path}:{n}"))
    return cases


def read_stories(path, count):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    stories = [s.strip("\n") for s in text.split("<|endoftext|>")]
    return [s.encode("utf-8") for s in stories if s][:count]


def piece_type(sp, i):
    if sp.is_unknown(i):
        return 2
    if sp.is_control(i):
        return 3
    if sp.is_unused(i):
        return 5
    if sp.is_byte(i):
        return 6
    return 1


def main():
    if len(sys.argv) not in (4, 5, 6):
        sys.exit(__doc__)
    model, cases_path, out = sys.argv[1:4]
    sp = sentencepiece.SentencePieceProcessor(model_file=model)
    cases = read_cases(cases_path)
    if len(sys.argv) >= 5:
        cases += read_stories(sys.argv[4], int(sys.argv[5]) if len(sys.argv) == 6 else 20)
    with open(out + ".cases", "w") as f:
        for text in cases:
            ids = sp.encode(text)
            decoded = sp.decode(ids).encode("utf-8")
            f.write(f"{text.hex()}\t{' '.join(map(str, ids))}\t{decoded.hex()}\n")
    with open(out + ".vocab", "w") as f:
        for i in range(sp.get_piece_size()):
            piece = sp.id_to_piece(i).encode("utf-8")
            f.write(f"{piece.hex()}\t{float(sp.get_score(i)).hex()}\t{piece_type(sp, i)}\n")


if __name__ == "__main__":
    main()
