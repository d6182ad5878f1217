"""``docs/results/`` from the rows of ``benchmarks/results.py``: the zoo table, the reports'
claims with verdicts, FID curves and sample grids. Rows are dicts (see ``results.read_job``);
every figure comes from a run's ``history.csv`` and its ``keras-gen evaluate`` metrics.json."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from pathlib import Path

from keras_gen.evaluation.claims import CLAIMS, REPORT_PAIRS, Side, judge
from keras_gen.evaluation.claims import label as figure_label
from keras_gen.utils.fileio import atomic_path, write_text


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int) or (isinstance(value, float) and abs(value) >= 100):
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def duration(seconds: float) -> str:
    return (f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200
            else f"{seconds / 3600:.1f} h")


def fig(row: dict, key: str):
    return (row or {}).get("figures", {}).get(key)


def share(holds: int, pairs: int) -> str:
    """A verdict over several GAN/VAE pairs."""
    if pairs in (1, 2) and holds in (0, pairs):
        return f"**{'holds' if holds else 'does not hold'}** in {('the one pair', 'both pairs')[pairs - 1]}"
    if holds == pairs:
        return f"**holds** in all {pairs} pairs"
    if holds == 0:
        return f"**does not hold** in any of the {pairs} pairs"
    return f"mixed: holds in {holds} of {pairs} pairs"


def fid_at(row: dict, minutes: float):
    """The FID of the last evaluation at or before ``minutes`` of training (None before the first)."""
    seen = [p["fid"] for p in row["curve"] if p["minutes"] <= minutes + 1e-9 and not math.isnan(p["fid"])]
    return seen[-1] if seen else None


def spearman(a: list[float], b: list[float]) -> float:
    def ranks(x):
        order = sorted(range(len(x)), key=lambda i: x[i])
        r = [0.0] * len(x)
        for rank, i in enumerate(order):
            r[i] = float(rank)
        return r

    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var else math.nan


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


# --------------------------------------------------------------------------- claims
def claims(rows: list[dict]) -> list[dict]:
    """Every claim the rows can decide: the reports' GAN/VAE claims over the reports' own pairs
    (``keras_gen.evaluation.claims``, the same check ``keras-gen compare`` makes), then those that
    need training curves or variant runs."""
    zoo = {r["model"]: r for r in rows if r["group"] == "zoo"}
    jobs = {r["job"]: r for r in rows}
    return [*family_claims(zoo), *curve_claims(zoo), *variant_claims(jobs)]


def _claim(text, source, compared, measured, verdict, runs=()) -> dict:
    return {"claim": text, "source": source, "compared": compared, "measured": measured, "verdict": verdict,
            "runs": sorted(runs)}


def _side(row: dict, **extra) -> Side:
    return Side(row["model"], row["family"], {**row["figures"], "images_per_sec": row["images_per_sec"], **extra},
                row["floors"])


def family_claims(zoo: dict) -> list[dict]:
    """Each claim of ``CLAIMS`` over the report pairs it is made about that were both trained."""
    out = []
    for claim in CLAIMS:
        pairs = {}
        for who in claim.reports:
            g, v = (zoo.get(m) for m in REPORT_PAIRS[who])
            if g and v:
                at = min(g["minutes"], v["minutes"])  # the pair's equal training time: the shorter run's
                pairs[who] = (g, v, *(_side(r, fid_at_equal_time=fid_at(r, at)) for r in (g, v)))
        found = judge(claim, [(gs, vs) for _, _, gs, vs in pairs.values()])
        if found is None:
            continue
        measured = "; ".join(f"{who}: " + ", ".join(j["evidence"]) for who, j in zip(pairs, found["per_pair"]) if j)
        holding, judged = found["pairs_holding"], found["pairs"]
        if found["outcome"] in ("holds", "does not hold"):
            verdict = share(holding, judged)
        elif judged == 1:
            verdict = f"{found['outcome']}: the pair's figures {'disagree' if found['outcome'] == 'mixed' else 'tie'}"
        else:
            verdict = (f"{found['outcome']}: holds in {holding} of {judged} pairs" if holding else
                       f"{found['outcome']}: no pair holds on every figure")
        relative = " as a share of the real test images'"
        compared = (" and ".join(figure_label(k) + (relative if k in claim.relative else "") for k in claim.metrics)
                    + " of each report's GAN / VAE pair")
        out.append(_claim(claim.text, claim.sources, compared, measured, verdict,
                          runs=[r["job"] for g, v, _, _ in pairs.values() for r in (g, v)]))
    return out


def curve_claims(zoo: dict) -> list[dict]:
    """Dietrich's architecture and critic claims, from the zoo runs' FID curves and class readings."""
    out = []

    def claim(*args, **kwargs):
        out.append(_claim(*args, **kwargs))

    if zoo.get("dcgan") and zoo.get("dcgan_upsample"):
        t, u = zoo["dcgan"], zoo["dcgan_upsample"]
        m = min(t["minutes"], u["minutes"])
        claim("upsampling layers give good MNIST results in less training time than transposed convolutions",
              "Dietrich §III.A",
              "dcgan_upsample (upsampling + conv) / dcgan (transposed conv, same widths), "
              "each at its report's settings",
              f"FID after {m:.1f} min {fmt(fid_at(u, m))} / {fmt(fid_at(t, m))}; images/s {fmt(u['images_per_sec'])} / "
              f"{fmt(t['images_per_sec'])}",
              "**holds**" if (fid_at(u, m) or math.inf) < (fid_at(t, m) or math.inf) else "**does not hold**",
              runs=[u["job"], t["job"]])
    base = zoo.get("dcgan_upsample")
    crit = [zoo[m] for m in ("wgan", "wgan_gp") if zoo.get(m)]
    if base and crit:
        def rises(row):  # evaluations whose FID rose more than 10% over the previous one
            f = [p["fid"] for p in row["curve"] if not math.isnan(p["fid"])]
            return sum(1 for a, b in zip(f, f[1:]) if b > 1.1 * a), max(len(f) - 1, 0)
        text = "; ".join(f"{r['model']}: {rises(r)[0]} of {rises(r)[1]} evaluations, final FID {fmt(fig(r, 'fid'))}, "
                         f"classes {fmt(fig(r, 'classes_covered'))}" for r in [base, *crit])
        stable = all(rises(r)[0] <= rises(base)[0] for r in crit)
        claim("WGAN trains more stably than a GAN", "Dietrich §III.B; Arjovsky et al. 2017",
              "FID rises of more than 10% between evaluations (one seed each)", text,
              ("holds (fewer or as few rises)" if stable else "does not hold") + ", one seed: indicative",
              runs=[r["job"] for r in [base, *crit]])
        corr = []
        for r in crit:
            pts = [(p["wasserstein"], p["fid"]) for p in r["curve"]
                   if p["wasserstein"] is not None and not math.isnan(p["fid"])]
            if len(pts) >= 3:
                corr.append((r["model"], spearman([a for a, _ in pts], [b for _, b in pts]), len(pts)))
        if corr:
            claim("the critic's Wasserstein estimate tracks sample quality", "Dietrich §III.B; Arjovsky et al. 2017",
                  "Spearman correlation of the epoch's mean critic estimate with FID over the evaluations",
                  "; ".join(f"{m}: ρ = {c:+.2f} over {n} evaluations" for m, c, n in corr),
                  "**holds**" if all(c >= 0.6 for _, c, _ in corr) else
                  ("partly" if any(c >= 0.6 for _, c, _ in corr) else "**does not hold**") + " at this budget",
                  runs=[r["job"] for r in crit])
    ac = zoo.get("acgan")
    if ac and len(ac["stages"]) > 1 and all(s["class_counts"] for s in ac["stages"]):
        recognised = []  # per stage: the classes that take >= 8% of the classifier's readings
        for stage in ac["stages"]:
            counts = stage["class_counts"]
            recognised.append([d for d, c in enumerate(counts) if c / sum(counts) >= 0.08])
        first, last = set(recognised[0]), set(recognised[-1])
        holds = bool(first) and first <= last and len(last) > len(first)
        claim("AC-GAN learns some classes before others", "Dietrich §V.A.1",
              f"the domain classifier's reading of acgan samples drawn for every class equally, after each of "
              f"{len(ac['stages'])} stages of equal training time; a class is 'recognised' at >= 8% of the readings",
              "; ".join(f"stage {i}: {r or 'none'}" for i, r in enumerate(recognised, 1)),
              "**holds**: the first classes stay and others join" if holds else
              "not shown at this budget: the recognised classes change from stage to stage", runs=[ac["job"]])

    return out


def variant_claims(jobs: dict) -> list[dict]:
    """The claims that compare variants of one model over several seeds (``results.py``'s claim jobs)."""
    out = []

    def claim(*args, **kwargs):
        out.append(_claim(*args, **kwargs))


    def seeds_claim(text, source, a_prefix, b_prefix, a_name, b_name, key="fid", extra="", expect="a"):
        """``expect``: the variant the claim says is better ("a" or "b"), or "a_not_worse"."""
        a = [r for j, r in jobs.items() if j.startswith(a_prefix)]
        b = [r for j, r in jobs.items() if j.startswith(b_prefix)]
        if not a or not b:
            return
        (ma, sa), (mb, sb) = mean_std([fig(r, key) for r in a]), mean_std([fig(r, key) for r in b])
        ca = [fig(r, "classes_covered") for r in a]
        cb = [fig(r, "classes_covered") for r in b]
        measured = (f"FID {a_name} {fmt(ma)} ± {fmt(sa, 2)} "
                    f"({len(a)} seeds: {', '.join(fmt(fig(r, key)) for r in a)}) / "
                    f"{b_name} {fmt(mb)} ± {fmt(sb, 2)} ({len(b)}: {', '.join(fmt(fig(r, key)) for r in b)}); "
                    "classes covered "
                    f"{', '.join(fmt(c) for c in ca)} / {', '.join(fmt(c) for c in cb)}; images seen "
                    f"{fmt(mean_std([r['images_seen'] for r in a])[0])} / "
                    f"{fmt(mean_std([r['images_seen'] for r in b])[0])}"
                    f"{extra}")
        close = abs(ma - mb) <= sa + sb
        winner = "a" if ma < mb else "b"
        better = f"{a_name if winner == 'a' else b_name} better"
        if close:
            verdict = (("**holds**: " if expect == "a_not_worse" else "open: ")
                       + "no clear difference (within the seeds' spread)")
        elif winner == expect or (expect == "a_not_worse" and winner == "a"):
            verdict = f"**holds**: {better}"
        else:
            verdict = f"**does not hold**: {better}"
        if len(a) == 1 and len(b) == 1:
            verdict += " (one seed each)"
        claim(text, source, f"{a_name} against {b_name}, same model and budget", measured, verdict,
              runs=[r["job"] for r in a + b])

    seeds_claim("one discriminator step per generator step (k = 1, Goodfellow et al.'s choice) does as well as more",
                "Ponnuru §4.2; Goodfellow et al. 2014", "mlp_gan-k1-", "mlp_gan-k5-", "k = 1", "k = 5",
                expect="a_not_worse")
    seeds_claim("the non-saturating generator loss trains better than the minimax one, which saturates", "Schulz §5",
                "mlp_gan_wide-ns-", "mlp_gan_wide-minimax-", "non-saturating", "minimax")
    def mean_elbo(*prefixes):
        """"; test ELBO a / b", each the mean over the variant's seeds."""
        groups = [[fig(r, "elbo") for j, r in jobs.items() if j.startswith(p)] for p in prefixes]
        if not all(groups):
            return ""
        return "; test ELBO " + " / ".join(fmt(statistics.fmean(g)) for g in groups) + " (means)"

    seeds_claim("a mixture-of-Gaussians prior gives better samples than N(0, I)", "Junnuthula §3.2.2",
                "vae_mlp-normal-", "vae_mlp-mog-", "N(0, I)", "mixture of 2", expect="b",
                extra=mean_elbo("vae_mlp-normal-", "vae_mlp-mog-"))
    seeds_claim("a 2-d latent space draws worse digits than a larger one", "Ali; Dietrich §II.D",
                "vae_mlp_2d-z2-", "vae_mlp_2d-z16-", "latent 2", "latent 16", expect="b",
                extra=mean_elbo("vae_mlp_2d-z2-", "vae_mlp_2d-z16-"))
    return out


DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


# --------------------------------------------------------------------------- pictures
def plot_curves(rows: list[dict], path: Path, dataset: str = "MNIST") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    zoo = [r for r in rows if r["group"] == "zoo"]
    fig_, axes = plt.subplots(1, 2, figsize=(15, 5.5), sharey=True)
    cmap = plt.get_cmap("tab20")
    for i, r in enumerate(zoo):
        pts = [p for p in r["curve"] if not math.isnan(p["fid"])]
        style = "-" if r["family"] == "gan" else "--"
        for ax, key in zip(axes, ("minutes", "images")):
            ax.plot([p[key] for p in pts], [p["fid"] for p in pts], style, marker="o", ms=3, color=cmap(i % 20),
                    label=r["model"])
    floor = zoo[0]["floors"].get("fid") if zoo else None
    for ax, label in zip(axes, ("training minutes (this machine)", "training images seen")):
        ax.set_xlabel(label)
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        if floor:
            ax.axhline(floor, color="k", lw=0.8, ls=":")
    axes[1].set_xscale("log")
    axes[0].set_ylabel("FID, domain classifier, 2,000 samples (log; dotted: real test vs train)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig_.legend(handles, labels, fontsize=8, loc="center right")  # outside the axes: no curve hidden
    fig_.suptitle(f"The zoo on {dataset}: FID during training (solid GANs, dashed VAEs)")
    fig_.tight_layout(rect=(0, 0, 0.86, 1))
    with atomic_path(path) as tmp:
        fig_.savefig(tmp, dpi=110)
    plt.close(fig_)


# --------------------------------------------------------------------------- the page
def demo_choice(rows: list[dict], limit_minutes: float) -> list[dict]:
    """The settings of runs of at most ``limit_minutes`` whose every seed draws all ten classes,
    best (lowest mean FID) first: ``[{"model", "variant", "fid", "seeds", "rows"}]``."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["minutes"] <= limit_minutes * 1.5:  # the budget, overshot by at most its last epoch
            groups.setdefault((r["model"], r["variant"]), []).append(r)
    ranked = [{"model": m, "variant": v, "fid": statistics.fmean(fig(r, "fid") for r in rs), "seeds": len(rs),
               "rows": rs}
              for (m, v), rs in groups.items() if all((fig(r, "classes_covered") or 0) >= 10 for r in rs)]
    return sorted(ranked, key=lambda g: g["fid"])


def report_hours(model: str) -> str:
    """Its report's epochs and a lower bound on how long they take on a 2-core CPU (results_zoo.SPEED:
    train-step images/s on an idle machine; evaluations, oneDNN on the small MLPs and other load
    make it up to 2.5 times longer)."""
    import models_zoo

    from results_zoo import SPEED

    epochs = models_zoo.get(model).epochs
    if not SPEED.get(model):
        return f"{epochs} epochs"
    return f"{epochs} epochs, at least {duration(epochs * 60000 / SPEED[model])} of training here"


def inception_sentence(zoo: list[dict]) -> str:
    """The header's words on the standard FID network's column, when some row has it."""
    counts = sorted({r["inception"]["images"] for r in zoo if r.get("inception")})
    if not counts:
        return ""
    n = " or ".join(f"{c:,}" for c in counts)
    return (f". The last column is the standard FID network's (`--extractor fid-inception`, the 2015 Inception "
            f"graph's pool3 features of TTUR, pytorch-fid and clean-fid's legacy mode) on {n} samples against as many "
            "test images (`--inception-images`): FID rises as the image count falls, so it stands beside published "
            f"MNIST FIDs only at their image count (10,000 or 50,000) and here beside its own floor, real test vs {n} "
            "training images; KID is unbiased at any count")


def inception_cell(inception: dict | None, which: str) -> str:
    if not inception:  # a row whose run has no evaluation with the standard network (yet)
        return "–"
    values = inception[which]
    return f"{fmt(values.get('fid'))} / {fmt(values.get('kid'))} ({inception['images']:,})"


def command(row: dict) -> str:
    return " ".join(row["train_command"])


def render(rows: list[dict], machine: dict, args) -> None:
    out = Path(args.out)
    (out / "grids").mkdir(parents=True, exist_ok=True)
    for r in rows:
        if Path(r["grid"]).is_file():
            with atomic_path(out / "grids" / f"{r['job']}.png") as tmp:
                shutil.copyfile(r["grid"], tmp)
    found = claims(rows)
    ranked = demo_choice([r for r in rows if r["group"] == "claims"], args.claim_minutes)
    demo = {k: ranked[0]["rows"][0][k] for k in ("model", "variant", "latent_dim", "options")} if ranked else None
    write_text(out / "results.json", json.dumps({"machine": machine, "rows": rows, "claims": found, "demo": demo},
                                                indent=1) + "\n")
    zoo = [r for r in rows if r["group"] == "zoo"]
    dataset = DATASET_NAMES.get(getattr(args, "dataset", "mnist"), "MNIST")
    if zoo:
        plot_curves(rows, out / "fid_curves.png", dataset)
    budgets = getattr(args, "report_budgets", False)
    seeded = any(r["group"] == "claims" for r in rows)  # the claims' own variant runs (MNIST time budgets)
    title = (f"# Results{'' if dataset == 'MNIST' else ' on ' + dataset}: what the zoo reaches on this machine"
             + (", and the reports' claims checked" if found else "")
             + (" at the reports' epochs" if budgets else ""))
    budget = ("with its report's settings for **its report's number of epochs** (each model's default in docs/ZOO.md)"
              if budgets else f"with its report's settings for **{args.minutes:g} minutes** (training steps only: not "
              "FID evaluations, checkpoints or a VAE's validation pass over the test split)")
    lines = [title, "",
             f"Generated by `python benchmarks/results.py` (`make results`) on {machine['cpu']} "
             f"({machine['cores']} cores, load average {machine['load_average'][0]:.1f} when written: "
             "other work shared the "
             f"machine, so minutes are upper bounds and images seen is the load-free axis). Each zoo model trained on "
             f"{dataset} {budget}" + (f", claim runs for {args.claim_minutes:g} minutes" if seeded else "")
             + f"; final figures from `keras-gen evaluate` on {args.samples:,} samples with the {dataset} domain "
             "classifier (FIDs are not Inception FIDs: see the README)" + inception_sentence(zoo)
             + ". The commands are in [commands.md](commands.md); rerun with `--minutes 60` or `--report-budgets` "
             "on a faster host.", ""]
    if zoo:
        floors = zoo[0]["floors"]
        standard = [r for r in zoo if r.get("inception")]
        lines += ["## The zoo", "", "![FID over time and images](fid_curves.png)", "",
                  "| model | family | trained | images seen | images/s (one epoch) | FID after 1 / 2 min | FID | KID "
                  "| precision | recall | classes | sharpness | test ELBO | IWAE NLL |"
                  + (" Inception FID / KID |" if standard else ""),
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if standard else "")]
        for r in sorted(zoo, key=lambda r: fig(r, "fid") or math.inf):
            lines.append(f"| [`{r['model']}`](grids/{r['job']}.png) | {r['family']} | {r['minutes']:.1f} min | "
                         f"{r['images_seen']:,} ({r['epochs_of_data']:.1f} epochs) | {fmt(r['images_per_sec'])} "
                         f"({duration(60000 / r['images_per_sec']) if r['images_per_sec'] else '–'}) | "
                         f"{fmt(fid_at(r, 1.0))} / {fmt(fid_at(r, 2.0))} | **{fmt(fig(r, 'fid'))}** | "
                         f"{fmt(fig(r, 'kid'))} | "
                         f"{fmt(fig(r, 'precision'), 2)} | {fmt(fig(r, 'recall'), 2)} | "
                         f"{fmt(fig(r, 'classes_covered'))} | "
                         f"{fmt(fig(r, 'sharpness'), 2)} | {fmt(fig(r, 'elbo'))} | {fmt(fig(r, 'iwae_nll_bound'))} |"
                         + (f" {inception_cell(r['inception'], 'figures')} |" if standard else ""))
        lines.append(f"| real test vs train | | | | | | {fmt(floors.get('fid'))} | {fmt(floors.get('kid'))} | "
                     f"{fmt(floors.get('precision'), 2)} | {fmt(floors.get('recall'), 2)} | "
                     f"{fmt(floors.get('classes_covered'))} | "
                     f"{fmt(floors.get('sharpness'), 2)} | | |"
                     + (" " + "; ".join(inception_cell(i, "floors")  # one floor per image count
                                        for i in {r["inception"]["images"]: r["inception"]
                                                  for r in standard}.values())
                        + " |" if standard else ""))
        lines += ["", "Sample grids (64 fixed seeds, the run's last checkpoint; conditional models one class per "
                  "column order):", "", "| | | |", "|---|---|---|"]
        cells = [f"`{r['model']}` FID {fmt(fig(r, 'fid'))}<br>![{r['model']}](grids/{r['job']}.png)" for r in zoo]
        for i in range(0, len(cells), 3):
            lines.append("| " + " | ".join(cells[i:i + 3] + [""] * (3 - len(cells[i:i + 3]))) + " |")
        from results_zoo import NOT_HERE, ZOO

        pending = [m for m in ZOO if m not in {r["model"] for r in zoo}]
        if pending and budgets:
            lines += ["", "Not finished (or not run) at the reports' epochs: " + ", ".join(
                f"`{m}` ({report_hours(m)})" for m in pending) + ". The same command continues where it stopped; "
                "`--only` picks models."]
        elif pending:
            lines += ["", "Not finished yet: " + ", ".join(f"`{m}`" for m in pending) + ". The same command "
                      "continues where it stopped."]
        lines += ["", "Not trained here: " + "; ".join(f"`{m}`: {why}" for m, why in NOT_HERE.items()) + ".", ""]
    if found:
        if budgets:
            intro = ("Each row compares the zoo's runs above, one seed each, at their reports' epochs: a pair's two "
                     "models trained as long as their reports say, not for equal time. Rows whose runs have not "
                     "finished are left out.")
        else:
            intro = ("Each row compares runs at the same training time. " + (
                "Every variant ran three seeds (mean ± standard deviation, then each seed): GAN FIDs vary by 10-20% "
                "from seed to seed at this budget, so a difference within the seeds' spread is no verdict. Rows from "
                "the zoo table are one seed each. " if seeded else "The rows come from the zoo table, one seed each "
                "(GAN FIDs vary by 10-20% from seed to seed at this budget). ") +
                "Images seen differ between runs of equal time where other work loaded the machine differently.")
        if dataset != "MNIST":
            intro = (f"The reports make these claims about MNIST; here they are checked on {dataset}, where a claim "
                     "that holds for digits need not hold. " + intro)
        lines += ["## The reports' claims", "", intro,
                  "", "| claim | source | compared | measured | verdict |", "|---|---|---|---|---|"]
        lines += [f"| {c['claim']} | {c['source']} | {c['compared']} "
                  f"(runs: {', '.join(f'`{j}`' for j in c['runs'])}) | "
                  f"{c['measured']} | {c['verdict']} |" for c in found]
        lines.append("")
    if ranked:
        best = ranked[0]
        shown = min(best["rows"], key=lambda r: fig(r, "fid"))
        lines += ["## The demo's model", "",
                  f"Of the {args.claim_minutes:g}-minute runs, the settings whose every seed drew all ten digits, by "
                  "mean FID: " + "; ".join(f"`{g['model']}` {g['variant']} {fmt(g['fid'])} ({g['seeds']} seed"
                                           f"{'s' if g['seeds'] > 1 else ''})" for g in ranked[:5]) +
                  f". `make demo` trains the first, **`{best['model']}` ({best['variant']})**; its grid:", "",
                  f"![demo](grids/{shown['job']}.png)", ""]
    write_text(out / "README.md", "\n".join(lines))
    cmds = ["# The commands behind docs/results", "", "Each job: `train.py` as below (the run directory under "
            f"`{args.root}/`), then `keras-gen evaluate RUN --samples {args.samples} --iwae-k 16 "
            "--likelihood-images 500`"
            + "".join(f"; with an Inception column on {n:,} images, also `keras-gen evaluate RUN "
                      "--extractor fid-inception "
                      f"--samples {n} --out RUN/final_eval_inception --kid-subset-size {min(1000, n // 2)}`"
                      for n in sorted({r["inception"]["images"] for r in rows if r.get("inception")})) + ".", ""]
    cmds += [f"* `{r['job']}` (seed {r['seed']}): `{command(r)}`" for r in rows]
    write_text(out / "commands.md", "\n".join(cmds) + "\n")
