"""NannyML on one scenario, for `bench/relations.py` (multivariate drift) and `bench/cbpe.py` (CBPE): runs in
NannyML's own virtual environment (NannyML 0.13.1 pins pandas < 3 and its own scikit-learn), never imports mlpuzzle.

    NML_DISABLE_USAGE_LOGGING=1 NML_DISABLE_USER_ANALYTICS=1 /work/nml-venv/bin/python bench/nannyml_worker.py \\
        DATA_DIR {pca,dc} ROWS
    ... bench/nannyml_worker.py DATA_DIR cbpe

Drift: DATA_DIR holds `reference.parquet`, `analysis.parquet` (rows in window order, `ROWS` a window) and
`columns.json` ({"numeric": [...], "categorical": [...]}). Prints one JSON object: the method, the seconds to fit and
calculate, and each analysis chunk's value, thresholds and alert.

CBPE: DATA_DIR holds `reference.parquet` and one `analysis_<NAME>.parquet` per set of windows (the model's
probabilities `p_<class>`, its decision `y_pred`, the label `y_true`, and `ts`: one day per window, so that daily
chunks are the windows), and `cbpe.json` ({"problem": "binary" or "multiclass", "classes": [...],
"metrics": [...], "analyses": [NAME, ...]}). Prints one JSON object: the seconds to fit, and per analysis the seconds
to estimate and per metric each chunk's start, estimate, sampling error and confidence bounds.
"""
import json, os, sys, time
from pathlib import Path

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("NML_DISABLE_USER_ANALYTICS", "1")


def calculator(method: str, columns: dict, rows: int):
    "NannyML's calculator `method` (pca: data reconstruction, dc: domain classifier) with its defaults."
    import nannyml as nml
    features = columns["numeric"] + columns["categorical"]
    if method == "pca": return nml.DataReconstructionDriftCalculator(column_names=features, chunk_size=rows)
    return nml.DomainClassifierCalculator(feature_column_names=features, treat_as_categorical=columns["categorical"],
                                          chunk_size=rows)


def run(data: Path, method: str, rows: int) -> dict:
    "Fit on the reference, calculate on the analysis windows; the chunks' values and alerts."
    import pandas as pd
    reference, analysis = pd.read_parquet(data / "reference.parquet"), pd.read_parquet(data / "analysis.parquet")
    columns = json.loads((data / "columns.json").read_text())
    t0 = time.perf_counter()
    res = calculator(method, columns, rows).fit(reference).calculate(analysis)
    seconds = time.perf_counter() - t0
    df = res.filter(period="analysis").to_df()
    metric = [c for c in df.columns.levels[0] if c != "chunk"][0]
    m = df[metric]
    return {"method": method, "seconds": seconds, "metric": metric, "values": m["value"].astype(float).tolist(),
            "upper_threshold": m["upper_threshold"].astype(float).tolist(), "alerts": m["alert"].astype(bool).tolist()}


def cbpe(meta: dict):
    "NannyML's CBPE with its defaults (isotonic calibration when the reference needs it), one chunk a window (day)."
    import nannyml as nml
    binary = meta["problem"] == "binary"
    proba = "p_1" if binary else {c: f"p_{c}" for c in meta["classes"]}
    return nml.CBPE(metrics=meta["metrics"], y_pred_proba=proba, y_pred="y_pred", y_true="y_true",
                    problem_type="classification_binary" if binary else "classification_multiclass",
                    timestamp_column_name="ts", chunk_period="D")


def chunks(res, metrics: list) -> dict:
    "Per metric, each analysis chunk's start (a window's day), estimate, sampling error and confidence bounds."
    df = res.filter(period="analysis").to_df()
    fields = {"estimate": "value", "sampling_error": "sampling_error", "lower": "lower_confidence_boundary",
              "upper": "upper_confidence_boundary"}
    out = {"start": df[("chunk", "start_date")].astype(str).str[:10].tolist()}
    for m in metrics: out[m] = {k: df[(m, f)].astype(float).tolist() for k, f in fields.items()}
    return out


def run_cbpe(data: Path) -> dict:
    "Fit CBPE on the reference, then estimate each analysis set's windows; the seconds of each step."
    import pandas as pd
    meta = json.loads((data / "cbpe.json").read_text())
    reference = pd.read_parquet(data / "reference.parquet")
    t0 = time.perf_counter()
    est = cbpe(meta).fit(reference)
    out = {"method": "cbpe", "fit_seconds": time.perf_counter() - t0, "analyses": {}}
    for name in meta["analyses"]:
        analysis = pd.read_parquet(data / f"analysis_{name}.parquet")
        t0 = time.perf_counter()
        res = est.estimate(analysis)
        out["analyses"][name] = {"seconds": time.perf_counter() - t0, **chunks(res, meta["metrics"])}
    out["needs_calibration"] = bool(getattr(est, "needs_calibration", False))
    return out


if __name__ == "__main__":
    if sys.argv[2] == "cbpe": print(json.dumps(run_cbpe(Path(sys.argv[1]))))
    else: print(json.dumps(run(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))))
