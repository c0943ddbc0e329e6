/* tokenizer_sp.cpp — the one C++ file: the tokenizer of attend.h and tokenizer.h over libsentencepiece.
 *
 * Encoding and whole-sequence decoding are SentencePiece's own. What this file adds:
 *   - a ModelProto serialised by hand (protobuf wire format) from vocabulary arrays, so a GGUF
 *     vocabulary or a llama2.c tokenizer.bin loads into the real library (the Debian package
 *     ships no ModelProto header);
 *   - the table of per-piece surfaces (tokenizer.h's token_surfaces) from which the streaming
 *     decoder, token_stream.c, reproduces SentencePieceProcessor::Decode one id at a time.
 * Every entry point catches C++ exceptions: nothing may unwind into C. */
#include "tokenizer.h"
#include "error.h"
#include "fileio.h"
#include "utf8.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

/* ==== The tokenizer ==== */

struct attend_tokenizer {
    sentencepiece::SentencePieceProcessor sp;
    int n_vocab = 0, bos = -1, eos = -1, unk = -1;
    /* Decode's treatment of the dummy prefix (tokenizer.h) */
    bool strip_dummy_prefix = true, strip_all_leading = false;
    std::vector<token_piece> pieces;
    std::string surfaces;
    size_t max_surface = 0;
    token_surfaces view = {};   /* the three above for C, filled once they are complete */
    /* The pieces written out in a text that attend_tokenize_special turns into their ids: control,
     * user-defined and unknown pieces, longest first (ids), and which bytes can start one. */
    std::vector<int> specials;
    bool special_start[256] = {false};
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error_v(err, errlen, fmt, ap);   /* one line: SentencePiece's messages can quote a file's bytes */
    va_end(ap);
}

/* A piece as one line of ASCII for an error message: other bytes as \xNN, at most 40 shown. */
static std::string printable(std::string_view piece)
{
    std::string out;
    for (size_t i = 0; i < piece.size() && i < 40; i++) {
        uint8_t c = (uint8_t)piece[i];
        char hex[8];
        snprintf(hex, sizeof hex, "\\x%02X", c);
        if (c >= 0x20 && c < 0x7F && c != '\\') out.push_back((char)c);
        else out += hex;
    }
    return piece.size() > 40 ? out + "..." : out;
}

/* ==== Protobuf wire format: just enough of sentencepiece_model.proto ====
 * ModelProto { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2;
 *              NormalizerSpec normalizer_spec = 3; NormalizerSpec denormalizer_spec = 5; }
 * SentencePiece { string piece = 1; float score = 2; Type type = 3; }
 * A field is a varint key (number << 3 | wire type), then a varint (type 0), 8 bytes (1),
 * a varint length and that many bytes (2), or 4 bytes (5). */

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_BYTES = 2, WIRE_FIXED32 = 5 };

static void put_varint(std::string &out, uint64_t v)
{
    while (v >= 0x80) { out.push_back((char)(v | 0x80)); v >>= 7; }
    out.push_back((char)v);
}
static void put_key(std::string &out, int field, int wire) { put_varint(out, (uint64_t)field << 3 | (uint64_t)wire); }
/* int32 fields carry negative values sign-extended to 64 bits (ten bytes). */
static void put_int(std::string &out, int field, int64_t v) { put_key(out, field, WIRE_VARINT); put_varint(out, (uint64_t)v); }
static void put_bytes(std::string &out, int field, std::string_view b)
{
    put_key(out, field, WIRE_BYTES);
    put_varint(out, b.size());
    out.append(b.data(), b.size());
}
static void put_float(std::string &out, int field, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_key(out, field, WIRE_FIXED32);
    for (int i = 0; i < 4; i++) out.push_back((char)(u >> (8 * i)));
}

/* A bounded reader over one message; any malformed field ends it (ok = false). */
struct wire_reader {
    const uint8_t *p, *end;
    bool ok = true;
    bool varint(uint64_t *v)
    {
        *v = 0;
        for (int shift = 0; shift < 64 && p < end; shift += 7) {
            uint8_t c = *p++;
            *v |= (uint64_t)(c & 0x7F) << shift;
            if (!(c & 0x80)) return true;
        }
        return ok = false;
    }
    /* Next field: its number and wire type; a varint's value in *v; a byte field's extent in *b. */
    bool next(int *field, int *wire, uint64_t *v, std::string_view *b)
    {
        uint64_t key;
        if (p >= end || !varint(&key)) return false;
        *field = (int)(key >> 3);
        *wire = (int)(key & 7);
        size_t skip = 0;
        switch (*wire) {
        case WIRE_VARINT: return varint(v);
        case WIRE_FIXED64: skip = 8; break;
        case WIRE_FIXED32: skip = 4; break;
        case WIRE_BYTES:
            if (!varint(v)) return false;
            skip = *v;
            *b = std::string_view((const char *)p, (size_t)(end - p) < skip ? 0 : skip);
            break;
        default: return ok = false;
        }
        if ((size_t)(end - p) < skip) return ok = false;
        p += skip;
        return true;
    }
};

/* The normaliser flags that decoding depends on, read from a serialised ModelProto. Absent
 * fields take the proto defaults (both true). A denormaliser rewrites decoded text in ways the
 * streaming decoder cannot follow, so such models are refused. */
static bool read_normalizer_flags(const std::string &proto, attend_tokenizer *t, char *err, size_t errlen,
                                  const char *path)
{
    bool add_dummy_prefix = true, remove_extra_whitespaces = true;
    wire_reader r{(const uint8_t *)proto.data(), (const uint8_t *)proto.data() + proto.size()};
    int field, wire;
    uint64_t v = 0;
    std::string_view b;
    while (r.next(&field, &wire, &v, &b)) {
        if (wire != WIRE_BYTES || (field != 3 && field != 5)) continue;
        wire_reader spec{(const uint8_t *)b.data(), (const uint8_t *)b.data() + b.size()};
        int f2, w2;
        uint64_t v2 = 0;
        std::string_view b2;
        while (spec.next(&f2, &w2, &v2, &b2)) {
            if (field == 3 && w2 == WIRE_VARINT && f2 == 3) add_dummy_prefix = v2 != 0;
            if (field == 3 && w2 == WIRE_VARINT && f2 == 4) remove_extra_whitespaces = v2 != 0;
            if (field == 5 && w2 == WIRE_BYTES && f2 == 2 && !b2.empty()) {
                set_err(err, errlen, "tokenizer: %s: denormalizer_spec rules are not supported", path);
                return false;
            }
        }
        if (!spec.ok) r.ok = false;
    }
    if (!r.ok) {
        set_err(err, errlen, "tokenizer: %s: not a SentencePiece model (malformed protobuf)", path);
        return false;
    }
    t->strip_dummy_prefix = add_dummy_prefix || remove_extra_whitespaces;
    t->strip_all_leading = remove_extra_whitespaces;
    return true;
}

/* Each piece's type (SentencePiece::Type, field 3 of ModelProto.pieces; absent: normal), read
 * from a serialised ModelProto: the Debian library has no IsUserDefined. */
static std::vector<int> read_piece_types(const std::string &proto)
{
    std::vector<int> types;
    wire_reader r{(const uint8_t *)proto.data(), (const uint8_t *)proto.data() + proto.size()};
    int field, wire;
    uint64_t v = 0;
    std::string_view b;
    while (r.next(&field, &wire, &v, &b)) {
        if (wire != WIRE_BYTES || field != 1) continue;
        wire_reader piece{(const uint8_t *)b.data(), (const uint8_t *)b.data() + b.size()};
        int f2, w2, type = PIECE_NORMAL;
        uint64_t v2 = 0;
        std::string_view b2;
        while (piece.next(&f2, &w2, &v2, &b2))
            if (f2 == 3 && w2 == WIRE_VARINT) type = (int)v2;
        types.push_back(type);
    }
    return types;
}

/* ==== Loading ==== */

/* After SentencePiece has loaded: record the special ids and each piece's decoded surface. */
static bool index_pieces(attend_tokenizer *t, char *err, size_t errlen, const char *what)
{
    const int n = t->sp.GetPieceSize();
    if (n <= 0) {
        set_err(err, errlen, "tokenizer: %s: empty vocabulary", what);
        return false;
    }
    t->n_vocab = n;
    t->bos = t->sp.bos_id();
    t->eos = t->sp.eos_id();
    t->unk = t->sp.unk_id();
    t->pieces.resize((size_t)n);
    for (int id = 0; id < n; id++) {
        token_piece &info = t->pieces[(size_t)id];
        std::string_view piece = t->sp.IdToPiece(id);
        std::string surface;
        /* SentencePiece decodes a piece by its text, so two ids that share a text decode alike,
         * which a table per id cannot follow. Vocabularies are checked for this before they are
         * loaded; a tokenizer.model is checked here (SentencePiece accepted one whose <unk> came
         * twice, with different types). */
        if (t->sp.PieceToId(piece) != id) {
            set_err(err, errlen, "tokenizer: %s: piece %d (\"%s\") repeats piece %d", what, id,
                    printable(piece).c_str(), t->sp.PieceToId(piece));
            return false;
        }
        if (t->sp.IsControl(id)) {
            info.kind = PIECE_CONTROL;
        } else if (t->sp.IsUnknown(id)) {
            info.kind = PIECE_UNKNOWN;           /* the model's unk_surface, as Decode writes it */
            surface = t->sp.DecodeIds(std::vector<int>{id});
        } else if (t->sp.IsByte(id)) {
            int v = byte_piece_value(piece.data(), piece.size());
            if (v < 0) {
                set_err(err, errlen, "tokenizer: %s: byte piece %d is \"%s\", not <0xNN>", what,
                        id, printable(piece).c_str());
                return false;
            }
            info.kind = PIECE_BYTE;
            info.byte = (uint8_t)v;
        } else {                                  /* normal, user-defined, unused */
            info.kind = PIECE_NORMAL;
            info.leading_space = piece.substr(0, 3) == SPACE_SYMBOL;
            for (size_t i = 0; i < piece.size();) {
                if (piece.compare(i, 3, SPACE_SYMBOL) == 0) { surface.push_back(' '); i += 3; }
                else surface.push_back(piece[i++]);
            }
        }
        if (t->surfaces.size() + surface.size() > UINT32_MAX) {
            set_err(err, errlen, "tokenizer: %s: pieces total over 4 GiB", what);
            return false;
        }
        info.surface_offset = (uint32_t)t->surfaces.size();
        info.surface_len = (uint32_t)surface.size();
        t->surfaces += surface;
        if (surface.size() > t->max_surface) t->max_surface = surface.size();
    }
    t->view = {t->n_vocab, t->pieces.data(), t->surfaces.data(), t->max_surface, t->strip_dummy_prefix,
               t->strip_all_leading};
    return true;
}

/* The pieces attend_tokenize_special looks for in a text: those of type control (<s>, </s>,
 * <|im_end|>), user-defined (<|user|>) and unknown (<unk>), as llama.cpp parses them with special
 * tokens on. Longest first, so that a piece wins over a shorter one it starts with. */
static void index_specials(attend_tokenizer *t, const std::vector<int> &types)
{
    for (int id = 0; id < t->n_vocab && (size_t)id < types.size(); id++)
        if (types[(size_t)id] == PIECE_CONTROL || types[(size_t)id] == PIECE_USER_DEFINED ||
            types[(size_t)id] == PIECE_UNKNOWN) {
            t->specials.push_back(id);
            t->special_start[(uint8_t)t->sp.IdToPiece(id)[0]] = true;
        }
    std::stable_sort(t->specials.begin(), t->specials.end(), [t](int a, int b) {
        return t->sp.IdToPiece(a).size() > t->sp.IdToPiece(b).size();
    });
}

/* The whole file (fileio.h); tokenizer files are a few MB, so anything past 1 GiB is a wrong path. */
static bool read_file(const char *path, std::string *out, char *err, size_t errlen)
{
    size_t size = 0;
    std::unique_ptr<char, void (*)(void *)> data(read_whole_file(path, "tokenizer", (size_t)1 << 30, &size, err,
                                                                 errlen), free);
    if (data) out->assign(data.get(), size);
    return data != nullptr;
}

/* The tokenizer is held by a unique_ptr until it is complete: SentencePiece may throw rather than
 * return a status (its double-array trie does, on an empty piece in a tokenizer.model), and the
 * exception is caught, and reported, by the C entry point. */
static attend_tokenizer *load_serialized(const std::string &proto, const char *what, char *err, size_t errlen)
{
    std::unique_ptr<attend_tokenizer> t(new attend_tokenizer);
    if (!read_normalizer_flags(proto, t.get(), err, errlen, what)) return nullptr;
    auto status = t->sp.LoadFromSerializedProto(proto);
    if (!status.ok()) {
        set_err(err, errlen, "tokenizer: %s: SentencePiece refused the model: %s", what, status.ToString().c_str());
        return nullptr;
    }
    if (!index_pieces(t.get(), err, errlen, what)) return nullptr;
    index_specials(t.get(), read_piece_types(proto));
    return t.release();
}

/* Validate vocabulary arrays and serialise them as a BPE ModelProto with byte fallback and
 * identity normalisation with a dummy prefix: the Llama tokenizer's settings. `what` names the
 * source in errors. */
static attend_tokenizer *build_from_vocab(int n_vocab, const char *const *pieces, const size_t *lens,
                                   const float *scores, const int *types, int bos, int eos, int unk,
                                   const char *what, char *err, size_t errlen)
{
    if (n_vocab <= 0 || n_vocab > (1 << 24) || !pieces || !lens || !types) {
        set_err(err, errlen, "tokenizer: %s: bad vocabulary (n_vocab %d%s)", what, n_vocab,
                !pieces || !lens || !types ? ", missing pieces, lengths or types" : "");
        return nullptr;
    }
    const int special[3] = {bos, eos, unk};
    const char *special_name[3] = {"bos", "eos", "unk"};
    for (int k = 0; k < 3; k++)
        if (special[k] < -1 || special[k] >= n_vocab) {
            set_err(err, errlen, "tokenizer: %s: %s id %d outside the vocabulary of %d", what,
                    special_name[k], special[k], n_vocab);
            return nullptr;
        }
    if (unk < 0 || types[unk] != PIECE_UNKNOWN) {
        set_err(err, errlen, "tokenizer: %s: unk id %d is not a piece of type unknown (2)", what, unk);
        return nullptr;
    }

    std::string proto;
    std::unordered_set<std::string_view> seen;
    seen.reserve((size_t)n_vocab);
    bool has_bytes = false;
    for (int i = 0; i < n_vocab; i++) {
        std::string_view piece(pieces[i] ? pieces[i] : "", pieces[i] ? lens[i] : 0);
        float score = scores ? scores[i] : 0.0f;
        int type = types[i];
        const char *why = nullptr;
        if (piece.empty()) why = "is empty";
        else if (!utf8_valid(piece.data(), piece.size())) why = "is not valid UTF-8";
        else if (type < PIECE_NORMAL || type > PIECE_BYTE) why = "has an unknown type";
        else if (type == PIECE_BYTE && byte_piece_value(piece.data(), piece.size()) < 0)
            why = "has type byte but is not <0xNN>";
        else if (type == PIECE_UNKNOWN && i != unk) why = "has type unknown but is not the unk id";
        else if (std::isnan(score)) why = "has a NaN score";
        else if (!seen.insert(piece).second) why = "repeats an earlier piece";
        if (why) {
            set_err(err, errlen, "tokenizer: %s: piece %d (\"%s\", type %d) %s", what, i,
                    printable(piece).c_str(), type, why);
            return nullptr;
        }
        has_bytes |= type == PIECE_BYTE;
        std::string sp_piece;
        put_bytes(sp_piece, 1, piece);
        put_float(sp_piece, 2, score);
        put_int(sp_piece, 3, type);
        put_bytes(proto, 1, sp_piece);                  /* ModelProto.pieces */
    }

    std::string trainer;                                /* TrainerSpec */
    put_int(trainer, 3, 2);                             /* model_type = BPE */
    put_int(trainer, 4, n_vocab);                       /* vocab_size */
    put_int(trainer, 35, has_bytes);                    /* byte_fallback: needs the <0xNN> pieces */
    put_int(trainer, 40, unk);                          /* unk_id */
    put_int(trainer, 41, bos);                          /* bos_id */
    put_int(trainer, 42, eos);                          /* eos_id */
    put_int(trainer, 43, -1);                           /* pad_id: none */
    put_bytes(trainer, 45, std::string_view(pieces[unk], lens[unk]));   /* unk_piece */
    if (bos >= 0) put_bytes(trainer, 46, std::string_view(pieces[bos], lens[bos]));   /* bos_piece */
    if (eos >= 0) put_bytes(trainer, 47, std::string_view(pieces[eos], lens[eos]));   /* eos_piece */
    put_bytes(proto, 2, trainer);

    std::string normalizer;                             /* NormalizerSpec */
    put_bytes(normalizer, 1, "identity");               /* name: no character rewriting */
    put_int(normalizer, 3, 1);                          /* add_dummy_prefix */
    put_int(normalizer, 4, 0);                          /* remove_extra_whitespaces */
    put_int(normalizer, 5, 1);                          /* escape_whitespaces: ' ' → '▁' */
    put_bytes(proto, 3, normalizer);

    attend_tokenizer *t = load_serialized(proto, what, err, errlen);
    if (t) { t->bos = bos; t->eos = eos; t->unk = unk; }
    return t;
}

/* ==== The C API ==== */

extern "C" {

attend_tokenizer *tokenizer_load_model(const char *path, char *err, size_t errlen)
{
    try {
        std::string proto;
        if (!read_file(path, &proto, err, errlen)) return nullptr;
        return load_serialized(proto, path, err, errlen);
    } catch (const std::exception &e) {
        set_err(err, errlen, "tokenizer: %s: %s", path, e.what());
    } catch (...) {
        set_err(err, errlen, "tokenizer: %s: unexpected C++ exception", path);
    }
    return nullptr;
}

attend_tokenizer *tokenizer_from_vocab(int n_vocab, const char *const *pieces, const size_t *lens,
                                const float *scores, const int *types, int bos, int eos, int unk,
                                const char *what, char *err, size_t errlen)
{
    try {
        return build_from_vocab(n_vocab, pieces, lens, scores, types, bos, eos, unk, what, err, errlen);
    } catch (const std::exception &e) {
        set_err(err, errlen, "tokenizer: %s: %s", what, e.what());
    } catch (...) {
        set_err(err, errlen, "tokenizer: %s: unexpected C++ exception", what);
    }
    return nullptr;
}

void tokenizer_free(attend_tokenizer *t) { delete t; }

const token_surfaces *tokenizer_surfaces(const attend_tokenizer *t) { return &t->view; }

ATTEND_API int attend_tokenizer_vocab_size(const attend_tokenizer *t) { return t->n_vocab; }
ATTEND_API int attend_tokenizer_bos(const attend_tokenizer *t) { return t->bos; }
ATTEND_API int attend_tokenizer_eos(const attend_tokenizer *t) { return t->eos; }

/* SentencePiece's ids of `text`, appended to out. */
static bool encode_plain(const attend_tokenizer *t, std::string_view text, std::vector<int> &out, char *err,
                         size_t errlen)
{
    if (text.empty()) return true;
    std::vector<int> ids;
    auto status = t->sp.Encode(text, &ids);
    if (!status.ok()) {
        set_err(err, errlen, "tokenizer: encode: %s", status.ToString().c_str());
        return false;
    }
    out.insert(out.end(), ids.begin(), ids.end());
    return true;
}

/* The text cut at the special pieces written in it (at each position the longest that matches),
 * each piece its id, the text between encoded by SentencePiece on its own. SentencePiece gives
 * every such segment its dummy-prefix space, which is what llama.cpp does too (a space before
 * the text that follows a special token) and what Hugging Face's Llama tokenizer does: Llama-2's
 * "<s>[INST]" is 1, "▁[", "INST", "]". */
static bool encode_special(const attend_tokenizer *t, std::string_view text, std::vector<int> &out, char *err,
                           size_t errlen)
{
    size_t start = 0;
    for (size_t i = 0; i < text.size(); i++) {
        if (!t->special_start[(uint8_t)text[i]]) continue;
        for (int id : t->specials) {
            std::string_view piece = t->sp.IdToPiece(id);
            if (text.compare(i, piece.size(), piece) != 0) continue;
            if (!encode_plain(t, text.substr(start, i - start), out, err, errlen)) return false;
            out.push_back(id);
            start = i + piece.size();
            i = start - 1;
            break;
        }
    }
    return encode_plain(t, text.substr(start), out, err, errlen);
}

static int tokenize(const attend_tokenizer *t, const char *text, size_t len, int add_bos, bool special, int *ids,
                    int max_ids, char *err, size_t errlen)
{
    try {
        std::vector<int> out;
        std::string_view s(len ? text : "", len);
        if (!(special ? encode_special(t, s, out, err, errlen) : encode_plain(t, s, out, err, errlen)))
            return -1;
        /* With no BOS in the vocabulary, add_bos adds nothing. */
        const int bos = add_bos && t->bos >= 0 ? 1 : 0;
        if (out.size() > (size_t)(INT32_MAX - 1)) {
            set_err(err, errlen, "tokenizer: encode: %zu ids overflow int", out.size());
            return -1;
        }
        const int total = (int)out.size() + bos;
        for (int i = 0; i < total && i < max_ids; i++) ids[i] = bos && i == 0 ? t->bos : out[(size_t)(i - bos)];
        return total;
    } catch (const std::exception &e) {
        set_err(err, errlen, "tokenizer: encode: %s", e.what());
    } catch (...) {
        set_err(err, errlen, "tokenizer: encode: unexpected C++ exception");
    }
    return -1;
}

ATTEND_API int attend_tokenize(const attend_tokenizer *t, const char *text, size_t len, int add_bos, int *ids,
                               int max_ids, char *err, size_t errlen)
{
    return tokenize(t, text, len, add_bos, false, ids, max_ids, err, errlen);
}

ATTEND_API int attend_tokenize_special(const attend_tokenizer *t, const char *text, size_t len, int add_bos,
                                       int *ids, int max_ids, char *err, size_t errlen)
{
    return tokenize(t, text, len, add_bos, true, ids, max_ids, err, errlen);
}

/* A token's text on its own: what the streaming decoder emits for it outside a byte run and
 * without the dummy-prefix rule. */
ATTEND_API int attend_token_to_piece(const attend_tokenizer *t, int id, char *buf, size_t buflen)
{
    if (id < 0 || id >= t->n_vocab) return -1;
    const token_piece &info = t->pieces[(size_t)id];
    const char *text = t->surfaces.data() + info.surface_offset;
    size_t n = info.surface_len;
    if (info.kind == PIECE_BYTE) {
        text = (const char *)&info.byte;
        n = 1;
    }
    if (n > 0 && n <= buflen) memcpy(buf, text, n);
    return (int)n;
}

ATTEND_API long attend_detokenize(const attend_tokenizer *t, const int *ids, int n, char *out, size_t cap)
{
    try {
        if (n < 0) return -1;
        std::vector<int> v(ids, ids + n);
        for (int id : v)
            if (id < 0 || id >= t->n_vocab) return -1;
        std::string text;
        if (!t->sp.Decode(v, &text).ok()) return -1;
        if (cap > 0) {
            size_t k = text.size() < cap - 1 ? text.size() : cap - 1;
            memcpy(out, text.data(), k);
            out[k] = '\0';
        }
        return (long)text.size();
    } catch (...) {
        return -1;
    }
}

}  /* extern "C" */
