#!/usr/bin/python3
"""train.py — train attend's shipped default model: a small llama on TinyStories, on the CPU.

Steps, each skipped when its output already exists in --workdir:
  1. a SentencePiece BPE tokenizer on the train stories (tok<V>.model),
  2. the train stories as one token stream, each story as BOS text EOS (tok<V>.train.npy),
  3. training for a wall-clock budget (--time-budget), the learning rate following the elapsed
     fraction of that budget, so the run ends on time whatever the machine's speed.
Outputs: ckpt.npz (weights named as GGUF tensors, config, tokenizer arrays; rewritten every
--ckpt-interval seconds and at the end), curve.csv (the learning curve), train_info.json.

The model is exactly what attend computes: tied embeddings, RMSNorm (eps 1e-5), grouped-query
attention with interleaved-pair RoPE (llama2.c's convention, base 10000), SwiGLU FFN, no biases.

Choices (defaults): vocab 2048 — on these 5.7 MB it gives 3.55 bytes/token (so 512 positions hold
all but ~2% of stories) while the tied embedding stays ~20% of a ~1.4M-parameter model; a larger
vocab would spend the parameter budget on rare pieces seen too few times to learn. Shape dim 128,
6 layers, 8 query / 4 kv heads, hidden 352 (1.37M params, compute-optimal for the ~5-8M tokens a
90-minute CPU run reaches). Seed 1337 for torch and numpy (init and batch order).

Needs /usr/bin/python3 with torch (1.13 is enough), numpy and sentencepiece.
Example: /usr/bin/python3 scripts/train.py --time-budget 5400 --dim 128 --n-layers 6
"""
import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn as nn
import torch.nn.functional as F

SEPARATOR = "<|endoftext|>"


def keep_heap():
    """Page faults on fresh memory are very slow on this VM (a new 16 MB tensor cost ~70 ms), and
    glibc returns large blocks to the kernel on free. Serve blocks up to 32 MB from the heap and
    never trim it, so each step reuses memory the previous step already faulted in."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    except OSError:
        pass  # not glibc: only slower


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train-text", default="../shared/corpus/tinystories-train.txt")
    p.add_argument("--valid-text", default="../shared/corpus/tinystories-valid.txt",
                   help="evaluation only; never trained on")
    p.add_argument("--workdir", default="/work/train")
    p.add_argument("--vocab-size", type=int, default=2048)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--hidden-dim", type=int, default=0, help="0: 8/3 dim rounded up to 32")
    p.add_argument("--n-layers", type=int, default=6)
    p.add_argument("--n-heads", type=int, default=8)
    p.add_argument("--n-kv-heads", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=512, help="training context = max_seq_len")
    p.add_argument("--batch-size", type=int, default=4,
                   help="sequences per step; small keeps every tensor small (see keep_heap)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-frac", type=float, default=0.1, help="cosine floor, fraction of --lr")
    p.add_argument("--warmup-frac", type=float, default=0.03, help="of the time budget")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads; measured here: 2 OpenMP threads sharing the 2 cores "
                        "with another busy process ran elementwise ops 5-20x slower than 1")
    p.add_argument("--time-budget", type=float, required=True,
                   help="seconds from start to the final checkpoint")
    p.add_argument("--eval-interval", type=float, default=360.0, help="seconds between val evals")
    p.add_argument("--eval-tokens", type=int, default=60000, help="size of the fixed val slice")
    p.add_argument("--ckpt-interval", type=float, default=600.0, help="seconds between checkpoints")
    p.add_argument("--log-interval", type=float, default=30.0, help="seconds between train-loss lines")
    p.add_argument("--tag", default="", help="suffix for output names (pilots, smoke runs)")
    return p.parse_args()


# ---------------------------------------------------------------- data and tokenizer

def read_stories(path):
    """Stories are separated by a line holding only the separator; the separator is never text."""
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    stories, lines = [], []
    for line in raw.split("\n"):
        if line == SEPARATOR:
            stories.append("\n".join(lines))
            lines = []
        else:
            lines.append(line)
    if any(lines):
        stories.append("\n".join(lines))
    return [s for s in stories if s.strip()]


def train_tokenizer(stories, vocab_size, prefix):
    # SentencePiece reads one sentence per line, so it learns from the paragraphs; a newline
    # inside a story is later encoded through byte fallback (<0x0A>).
    corpus = prefix + ".input.txt"
    with open(corpus, "w", encoding="utf-8") as f:
        for s in stories:
            for para in s.split("\n"):
                if para:
                    f.write(para + "\n")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, model_type="bpe", vocab_size=vocab_size,
        byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        add_dummy_prefix=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, split_digits=True, character_coverage=1.0,
        max_sentence_length=16384, num_threads=2, input_sentence_size=0)
    os.remove(corpus)


def encode_stories(sp, stories):
    """Each story becomes BOS text EOS, so a separator is EOS then BOS."""
    out = []
    for ids in sp.encode(stories):
        out.append([sp.bos_id()] + ids + [sp.eos_id()])
    return out


def tokenizer_arrays(sp):
    n = sp.get_piece_size()
    pieces = np.array([sp.id_to_piece(i) for i in range(n)], dtype=object).astype(str)
    scores = np.array([sp.get_score(i) for i in range(n)], dtype=np.float32)
    types = np.ones(n, dtype=np.int32)  # 1 normal; no user-defined pieces are trained
    for i in range(n):
        if sp.is_unknown(i):
            types[i] = 2
        elif sp.is_control(i):
            types[i] = 3
        elif sp.is_unused(i):
            types[i] = 5
        elif sp.is_byte(i):
            types[i] = 6
    return pieces, scores, types


# ---------------------------------------------------------------- the model

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim, seq_len, base):
    """cos/sin of pos * base^(-2i/head_dim) for pair i, shape (seq_len, head_dim/2)."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] * inv_freq[None, :]
    return torch.cos(angles).float(), torch.sin(angles).float()


def apply_rope(x, cos, sin):
    """x: (batch, time, heads, head_dim); rotate the interleaved pairs (x[2i], x[2i+1])."""
    b, t, h, d = x.shape
    pairs = x.reshape(b, t, h, d // 2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    cos = cos[:t][None, :, None, :]
    sin = sin[:t][None, :, None, :]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.reshape(b, t, h, d)


def grouped_attention(q, k, v, mask, dropout):
    """Causal softmax attention; query head h reads kv head h // (n_heads / n_kv_heads).
    Two constraints of this machine shape it: Debian's torch 1.13 runs batched matmul (bmm) far
    slower than torch.mm, which goes to OpenBLAS; and a tensor over 32 MB comes from mmap, whose
    fresh pages fault in very slowly here. So: one 2-D matmul per (sequence, head), and score
    tensors of one sequence at a time (heads x t x t floats)."""
    b, n_heads, t, head_dim = q.shape
    group = n_heads // k.shape[1]
    scale = 1.0 / math.sqrt(head_dim)
    outputs = []
    for i in range(b):
        scores = torch.stack([torch.mm(q[i, h], k[i, h // group].t()) for h in range(n_heads)])
        probs = dropout(F.softmax(scores * scale + mask, dim=-1))
        outputs.append(torch.stack([torch.mm(probs[h], v[i, h // group])
                                    for h in range(n_heads)]))
    return torch.stack(outputs)


class Block(nn.Module):
    def __init__(self, cfg, dropout):
        super().__init__()
        dim, hd = cfg["dim"], cfg["dim"] // cfg["n_heads"]
        self.n_heads, self.n_kv_heads, self.head_dim = cfg["n_heads"], cfg["n_kv_heads"], hd
        self.attn_norm = RMSNorm(dim, cfg["norm_eps"])
        self.query = nn.Linear(dim, self.n_heads * hd, bias=False)
        self.key = nn.Linear(dim, self.n_kv_heads * hd, bias=False)
        self.value = nn.Linear(dim, self.n_kv_heads * hd, bias=False)
        self.attn_output = nn.Linear(self.n_heads * hd, dim, bias=False)
        self.ffn_norm = RMSNorm(dim, cfg["norm_eps"])
        self.gate = nn.Linear(dim, cfg["hidden_dim"], bias=False)
        self.up = nn.Linear(dim, cfg["hidden_dim"], bias=False)
        self.down = nn.Linear(cfg["hidden_dim"], dim, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.attn_norm(x)
        q = apply_rope(self.query(h).view(b, t, self.n_heads, self.head_dim), cos, sin)
        k = apply_rope(self.key(h).view(b, t, self.n_kv_heads, self.head_dim), cos, sin)
        v = self.value(h).view(b, t, self.n_kv_heads, self.head_dim)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))  # (b, heads, t, hd)
        attn = grouped_attention(q, k, v, mask[:t, :t], self.dropout)
        x = x + self.dropout(self.attn_output(attn.transpose(1, 2).reshape(b, t, -1)))
        h = self.ffn_norm(x)
        return x + self.dropout(self.down(F.silu(self.gate(h)) * self.up(h)))


class Llama(nn.Module):
    def __init__(self, cfg, dropout=0.0):
        super().__init__()
        self.cfg = cfg
        self.token_embd = nn.Embedding(cfg["vocab_size"], cfg["dim"])
        self.blocks = nn.ModuleList(Block(cfg, dropout) for _ in range(cfg["n_layers"]))
        self.output_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        cos, sin = rope_tables(cfg["dim"] // cfg["n_heads"], cfg["max_seq_len"], cfg["rope_base"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        n = cfg["max_seq_len"]
        mask = torch.full((n, n), float("-inf")).triu(1)
        self.register_buffer("mask", mask, persistent=False)
        self.apply(self._init)
        # Residual-branch outputs start smaller so the stream's variance does not grow with depth.
        for blk in self.blocks:
            for w in (blk.attn_output.weight, blk.down.weight):
                nn.init.normal_(w, std=0.02 / math.sqrt(2 * cfg["n_layers"]))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, tokens):
        x = self.token_embd(tokens)
        for blk in self.blocks:
            x = blk(x, self.cos, self.sin, self.mask)
        return self.output_norm(x) @ self.token_embd.weight.t()  # tied output

    def gguf_tensors(self):
        """Weights named and shaped as the GGUF tensors: (out_features, in_features), float32."""
        out = {"token_embd.weight": self.token_embd.weight}
        for i, blk in enumerate(self.blocks):
            out.update({
                f"blk.{i}.attn_norm.weight": blk.attn_norm.weight,
                f"blk.{i}.attn_q.weight": blk.query.weight,
                f"blk.{i}.attn_k.weight": blk.key.weight,
                f"blk.{i}.attn_v.weight": blk.value.weight,
                f"blk.{i}.attn_output.weight": blk.attn_output.weight,
                f"blk.{i}.ffn_norm.weight": blk.ffn_norm.weight,
                f"blk.{i}.ffn_gate.weight": blk.gate.weight,
                f"blk.{i}.ffn_up.weight": blk.up.weight,
                f"blk.{i}.ffn_down.weight": blk.down.weight,
            })
        out["output_norm.weight"] = self.output_norm.weight
        return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in out.items()}


# ---------------------------------------------------------------- training pieces

class Batches:
    """Random windows of seq_len+1 tokens; each epoch reshuffles windows cut at a fresh offset,
    so every token is seen once per epoch and repeated epochs see different cuts."""

    def __init__(self, stream, seq_len, batch_size, rng):
        self.stream, self.seq_len, self.batch_size, self.rng = stream, seq_len, batch_size, rng
        self.epoch, self.starts = 0, np.empty(0, dtype=np.int64)

    def next(self):
        if len(self.starts) < self.batch_size:
            offset = int(self.rng.integers(0, self.seq_len))
            starts = np.arange(offset, len(self.stream) - self.seq_len - 1, self.seq_len)
            self.starts = self.rng.permutation(starts)
            self.epoch += 1
        take, self.starts = self.starts[:self.batch_size], self.starts[self.batch_size:]
        rows = np.stack([self.stream[s:s + self.seq_len + 1] for s in take])
        rows = torch.from_numpy(rows.astype(np.int64))
        return rows[:, :-1], rows[:, 1:]


def valid_slice(sp, stories, max_tokens, seq_len):
    """Whole val stories (BOS text EOS, cut to seq_len+1) until max_tokens, and their text bytes.
    Each story is scored from its own start, as an engine scoring one story at a time would."""
    rows, n_bytes, n_tokens = [], 0, 0
    for story, ids in zip(stories, encode_stories(sp, stories)):
        if n_tokens >= max_tokens:
            break
        if len(ids) > seq_len + 1:
            continue  # keep the bytes/targets correspondence exact: only stories that fit
        rows.append(ids)
        n_bytes += len(story.encode("utf-8"))
        n_tokens += len(ids) - 1
    return rows, n_bytes, n_tokens


@torch.no_grad()
def evaluate(model, rows, batch_size=4):
    """Mean loss (nats) per predicted token: every token after BOS, including the final EOS."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        chunk = rows[i:i + batch_size]
        t = max(len(r) for r in chunk)
        x = torch.zeros(len(chunk), t, dtype=torch.int64)
        y = torch.full((len(chunk), t - 1), -100, dtype=torch.int64)
        for j, r in enumerate(chunk):
            x[j, :len(r)] = torch.tensor(r)
            y[j, :len(r) - 1] = torch.tensor(r[1:])
        logits = model(x[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1),
                                 ignore_index=-100, reduction="sum").item()
        count += int((y != -100).sum())
    model.train()
    return total / count


def lr_at(frac, args):
    """Linear warmup over the first warmup_frac of the budget, then cosine to min_lr_frac."""
    if frac < args.warmup_frac:
        return args.lr * max(frac, 1e-3) / args.warmup_frac
    progress = min(1.0, (frac - args.warmup_frac) / (1.0 - args.warmup_frac))
    floor = args.lr * args.min_lr_frac
    return floor + 0.5 * (args.lr - floor) * (1.0 + math.cos(math.pi * progress))


def save_checkpoint(path, model, cfg, sp):
    arrays = model.gguf_tensors()
    arrays["config"] = np.array(json.dumps(cfg))
    pieces, scores, types = tokenizer_arrays(sp)
    arrays.update({"tokenizer.pieces": pieces, "tokenizer.scores": scores,
                   "tokenizer.types": types, "tokenizer.bos": np.array(sp.bos_id()),
                   "tokenizer.eos": np.array(sp.eos_id()), "tokenizer.unk": np.array(sp.unk_id())})
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # a reader never sees a half-written checkpoint
    torch.save(model.state_dict(), path[:-len(".npz")] + ".pt")


# ---------------------------------------------------------------- main

def main():
    start = time.time()
    keep_heap()
    args = parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)

    train_stories = read_stories(args.train_text)
    valid_stories = read_stories(args.valid_text)
    prefix = os.path.join(args.workdir, f"tok{args.vocab_size}")
    if not os.path.exists(prefix + ".model"):
        train_tokenizer(train_stories, args.vocab_size, prefix)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    if os.path.exists(prefix + ".train.npy"):
        stream = np.load(prefix + ".train.npy")
    else:
        stream = np.concatenate([np.array(ids, dtype=np.int32)
                                 for ids in encode_stories(sp, train_stories)])
        np.save(prefix + ".train.npy", stream)
    train_bytes = sum(len(s.encode("utf-8")) for s in train_stories)
    val_rows, val_bytes, val_tokens = valid_slice(sp, valid_stories, args.eval_tokens, args.seq_len)
    print(f"train: {len(train_stories)} stories, {len(stream)} tokens, "
          f"{train_bytes / len(stream):.3f} bytes/token; val slice: {len(val_rows)} stories, "
          f"{val_tokens} targets, {val_bytes} bytes", flush=True)

    hidden = args.hidden_dim or 32 * math.ceil(8 * args.dim / 3 / 32)
    cfg = {"dim": args.dim, "hidden_dim": hidden, "n_layers": args.n_layers,
           "n_heads": args.n_heads, "n_kv_heads": args.n_kv_heads,
           "vocab_size": sp.get_piece_size(), "max_seq_len": args.seq_len,
           "rope_base": 10000.0, "norm_eps": 1e-5}
    model = Llama(cfg, args.dropout)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"config {json.dumps(cfg)}; {n_params} params", flush=True)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    batches = Batches(stream, args.seq_len, args.batch_size, rng)

    tag = args.tag
    ckpt_path = os.path.join(args.workdir, f"ckpt{tag}.npz")
    curve_path = os.path.join(args.workdir, f"curve{tag}.csv")
    info_path = os.path.join(args.workdir, f"train_info{tag}.json")
    curve = open(curve_path, "w", newline="")
    writer = csv.writer(curve)
    writer.writerow(["step", "tokens", "wall_s", "lr", "train_loss", "val_loss", "val_bpb"])

    def log(step, tokens, lr, train_loss, val_loss=None):
        bpb = "" if val_loss is None else f"{val_loss / math.log(2) * val_tokens / val_bytes:.4f}"
        writer.writerow([step, tokens, f"{time.time() - start:.1f}", f"{lr:.3e}",
                         "" if train_loss is None else f"{train_loss:.4f}",
                         "" if val_loss is None else f"{val_loss:.4f}", bpb])
        curve.flush()

    # The final eval and checkpoint must fit in the budget: reserve what they take (measured once).
    t0 = time.time()
    val_loss = evaluate(model, val_rows)
    eval_seconds = time.time() - t0
    reserve = 2 * eval_seconds + 15
    train_end = start + args.time_budget - reserve
    train_start = time.time()
    print(f"initial val loss {val_loss:.4f} ({eval_seconds:.1f}s); training until "
          f"{time.strftime('%H:%M:%S', time.gmtime(train_end))} UTC", flush=True)
    log(0, 0, 0.0, None, val_loss)

    step, tokens, lr = 0, 0, 0.0
    window_loss, window_n = 0.0, 0
    last_log = last_eval = last_ckpt = time.time()
    while time.time() < train_end:
        frac = (time.time() - train_start) / (train_end - train_start)
        lr = lr_at(frac, args)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batches.next()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        step += 1
        tokens += x.numel()
        window_loss += loss.item()
        window_n += 1
        now = time.time()
        if now - last_log >= args.log_interval:
            rate = tokens / (now - train_start)
            print(f"step {step} epoch {batches.epoch} tokens {tokens} loss "
                  f"{window_loss / window_n:.4f} lr {lr:.2e} {rate:.0f} tok/s "
                  f"wall {now - start:.0f}s", flush=True)
            log(step, tokens, lr, window_loss / window_n)
            window_loss, window_n, last_log = 0.0, 0, now
        if now - last_eval >= args.eval_interval:
            val_loss = evaluate(model, val_rows)
            print(f"step {step} val loss {val_loss:.4f} "
                  f"bpb {val_loss / math.log(2) * val_tokens / val_bytes:.4f}", flush=True)
            log(step, tokens, lr, None, val_loss)
            last_eval = time.time()
        if now - last_ckpt >= args.ckpt_interval:
            save_checkpoint(ckpt_path, model, cfg, sp)
            last_ckpt = time.time()

    final_train = window_loss / window_n if window_n else None
    val_loss = evaluate(model, val_rows)
    val_bpb = val_loss / math.log(2) * val_tokens / val_bytes
    log(step, tokens, lr, final_train, val_loss)
    save_checkpoint(ckpt_path, model, cfg, sp)
    wall = time.time() - start
    info = {"command": " ".join([sys.executable] + sys.argv), "seed": args.seed,
            "config": cfg, "params": n_params, "steps": step, "tokens_seen": tokens,
            "epochs": tokens / len(stream), "tokens_per_second": tokens / (time.time() - train_start),
            "wall_seconds": round(wall, 1), "final_train_loss": final_train,
            "final_val_loss": val_loss, "val_slice_tokens": val_tokens, "val_slice_bytes": val_bytes,
            "val_bpb_estimate": val_bpb, "train_bytes_per_token": train_bytes / len(stream),
            "tokenizer_model": prefix + ".model", "checkpoint": ckpt_path, "curve": curve_path,
            "args": vars(args)}
    with open(info_path, "w") as f:
        json.dump(info, f, indent=2)
    curve.close()
    print(f"done: {step} steps, {tokens} tokens, val loss {val_loss:.4f}, bpb {val_bpb:.4f}, "
          f"wall {wall:.0f}s", flush=True)


if __name__ == "__main__":
    main()
