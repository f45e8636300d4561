#!/bin/sh
# --name-map / --name-map-file end to end on tests/fixtures/namemap: a
# Megatron-style target and an SGLang-style baseline pair only under the
# rules; bad rules are usage errors; info says which names pair.
: "${DUMPVIEW:?}" "${FIXTURES:?}"
exec python3 - <<'PY'
import json, os, subprocess, tempfile

dv = os.environ["DUMPVIEW"]
fx = os.path.join(os.environ["FIXTURES"], "namemap")
base, targ, rules = (os.path.join(fx, x) for x in ("baseline", "target", "rules.map"))
n = failed = 0

def ok(cond, what):
    global n, failed
    n += 1
    failed += not cond
    print(("ok" if cond else "not ok") + " %d - %s" % (n, what))

def run(*args):
    p = subprocess.run([dv] + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr

def jsonl(out):
    return [json.loads(l) for l in out.splitlines()]

# without rules nothing pairs
rc, out, err = run("compare", base, targ)
ok(rc == 2 and "no pairs" in err, "no map: no pairs (exit 2)")

# with the rule file: 7 pairs, the planted bug found at layer 1's MLP
rc, out, err = run("compare", "--name-map-file", rules, "--format", "jsonl", base, targ)
recs = jsonl(out)
pairs = [r for r in recs if r["type"] == "pair"]
ok(rc == 1 and len(pairs) == 7, "map file: 7 pairs, exit 1 (one fails)")
ok([p["name"] for p in pairs if not p["passed"]] == ["layers.1.mlp.down_proj"], "map file: the planted bug")
p = [p for p in pairs if p["name"] == "layers.3.self_attn.o_proj" or p["name"] == "layers.1.self_attn.o_proj"][0]
ok(p["target_name"] == "decoder.layers.1.self_attention.linear_proj"
   and p["target"].endswith("name=decoder.layers.1.self_attention.linear_proj.pt")
   and p["baseline"].endswith("name=layers.1.self_attn.o_proj.pt") and p["layer"] == 1,
   "jsonl: name is the mapped name, target_name the target's own, target the real path, layer from the name")
um = {(r["side"], r["name"]): r for r in recs if r["type"] == "unmatched"}
ok(set(um) == {("baseline", "logits"), ("target", "final_layernorm")}
   and um[("target", "final_layernorm")]["target_name"] == "decoder.final_layernorm"
   and "target_name" not in um[("baseline", "logits")], "jsonl: unmatched names, target_name on the target side only")
summ = [r for r in recs if r["type"] == "summary"][0]
ok(summ["passed"] == 6 and summ["failed"] == 1, "summary: 6 passed, 1 failed")

# the same rules as flags; rules apply in order, each on the previous result
flags = ["--name-map", r"^decoder\.=", "--name-map", r"^embedding\.word_embeddings$=embed_tokens",
         "--name-map", r"self_attention\.linear_(qkv|proj)=self_attn.${1:+linear_$1}",
         "--name-map", r"self_attn\.linear_qkv=self_attn.qkv_proj",
         "--name-map", r"self_attn\.linear_proj=self_attn.o_proj",
         "--name-map", r"mlp\.linear_fc2=mlp.down_proj"]
rc, out2, err = run("compare", *flags, "--format", "jsonl", base, targ)
ok(rc == 1 and [r["name"] for r in jsonl(out2) if r["type"] == "pair"] == [p["name"] for p in pairs],
   "flags: the same pairs as the file")
# text: the mapped name in the first divergence, the real target path
rc, out, err = run("compare", "--name-map-file", rules, base, targ)
ok(rc == 1 and "First divergence: phase target, layer 1, layers.1.mlp.down_proj" in out
   and "target=step=0___rank=0___dump_index=7___name=decoder.layers.1.mlp.linear_fc2.pt" in out,
   "text: mapped name, real target file")
# rules on the target only: mapping the baseline's names does nothing
rc, out, err = run("compare", "--name-map", "^layers=decoder.layers", base, targ)
ok(rc == 2 and "no pairs" in err, "rules rename target names only")

# bad rules: exit 2, one line naming the rule
rc, out, err = run("compare", "--name-map", "a(b=c", base, targ)
ok(rc == 2 and err == "dumpview compare: --name-map 'a(b=c': column 4: bad regex: missing closing parenthesis\n",
   "bad regex: exit 2, one line with the column")
rc, out, err = run("compare", "--name-map", "a(b)=$2", base, targ)
ok(rc == 2 and err.startswith("dumpview compare: --name-map 'a(b)=$2': column 8: bad replacement")
   and err.count("\n") == 1, "bad replacement: exit 2, one line")
rc, out, err = run("compare", "--name-map", "noequals", base, targ)
ok(rc == 2 and "no '=' between REGEX and REPLACEMENT" in err and err.count("\n") == 1, "no '=': exit 2")
tmp = tempfile.mkdtemp()
bad = os.path.join(tmp, "bad.map")
with open(bad, "w") as f:
    f.write("# ok\na=b\n\n   x(y=z\n")
rc, out, err = run("compare", "--name-map-file", bad, base, targ)
ok(rc == 2 and err == "dumpview compare: --name-map-file %s:4: column 7: bad regex: missing closing parenthesis\n" % bad,
   "bad rule file: FILE:LINE: column: reason")
rc, out, err = run("compare", "--name-map-file", os.path.join(tmp, "nope"), base, targ)
ok(rc == 2 and "No such file" in err and err.count("\n") == 1, "missing rule file: exit 2")
# the explorer takes the same options (a bad one is refused before it starts)
rc, out, err = run("--name-map", "x(=y", base, targ)
ok(rc == 2 and err.startswith("dumpview: --name-map 'x(=y': column 3: bad regex"), "explorer: bad rule, exit 2")
for cmd in (["compare", "--help"], ["--help"], ["info", "--help"]):
    rc, out, err = run(*cmd)
    ok(rc == 0 and "--name-map 'REGEX=REPLACEMENT'" in out and "--name-map-file FILE" in out,
       "%s lists the options" % " ".join(cmd))

# info: which names pair under the rules
rc, out, err = run("info", "--name-map-file", rules, base, targ)
ok(rc == 0 and "name map: 5 rules, on target names before pairing\n" in out
   and "  %s:2: ^decoder\\.=\n" % rules in out, "info text: the rules with their origin")
ok("phase target: 8 target names, 8 renamed: 7 pair, 1 does not; 1 of 8 baseline names without a target\n" in out,
   "info text: the phase's counts")
ok("    paired    decoder.layers.3.self_attention.linear_proj" not in out
   and "    paired    decoder.layers.1.self_attention.linear_proj -> layers.1.self_attn.o_proj\n" in out
   and "    unpaired  decoder.final_layernorm -> final_layernorm\n" in out
   and out.endswith("  baseline names without a target:\n    logits\n"), "info text: names that pair and names that do not")
rc, out, err = run("info", "--format", "jsonl", "--name-map", r"^decoder\.=", base, targ)
recs = jsonl(out)
ok(rc == 0 and recs[0]["type"] == "name_map" and recs[0]["rules"] == [{"rule": r"^decoder\.=", "origin": r"--name-map '^decoder\.='"}],
   "info jsonl: the rules")
ph = [r for r in recs if r["type"] == "name_map_phase"][0]
ok(ph == {"type": "name_map_phase", "phase": "target", "target_names": 8, "target_names_paired": 0,
          "target_names_renamed": 7, "baseline_names": 8, "baseline_names_unpaired": 8}, "info jsonl: phase counts")
names = {(r["side"], r["name"]): r for r in recs if r["type"] == "name"}
ok(names[("target", "embedding.word_embeddings")]["mapped"] == "embedding.word_embeddings"
   and names[("target", "decoder.layers.0.mlp.linear_fc2")] == {
       "type": "name", "phase": "target", "side": "target", "name": "decoder.layers.0.mlp.linear_fc2",
       "mapped": "layers.0.mlp.linear_fc2", "files": 1, "paired_files": 0, "status": "unpaired"}
   and names[("baseline", "logits")]["status"] == "unpaired" and len(names) == 16, "info jsonl: one record a name")
rc, out, err = run("info", "--name-map", "a=b", base)
ok(rc == 2 and "take BASELINE and TARGET, got 1 run" in err, "info: rules need two runs")
rc, out, err = run("info", base)
ok(rc == 0 and "phase" in out and "name map" not in out, "info without rules: as before")

print("1..%d" % n)
raise SystemExit(1 if failed else 0)
PY
