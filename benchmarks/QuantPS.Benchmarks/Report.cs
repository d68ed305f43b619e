using System.Globalization;
using System.Text.RegularExpressions;
using QuantPS.Kernels;

namespace QuantPS.Benchmarks;

/// <summary>
/// The two commands beside the benchmarks: <c>llama-cases</c> writes the same shapes as a test-backend-ops
/// --test-file, and <c>report</c> merges BenchmarkDotNet's CSV reports with test-backend-ops' output into the
/// markdown tables of docs/BENCHMARKS.md.
/// </summary>
public static partial class Report
{
    private const string MatMatShape = "4096x14336";
    private static readonly string[] VectorShapes = { "4096x4096", "4096x14336" };
    private static readonly int[] Batches = { 64, 512 };
    private static readonly GgmlType[] LlamaOnlyTypes = { GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_XS };

    /// <summary>Lines for test-backend-ops --test-file: MUL_MAT (op 29) of W [k, n] by X f32 [k, m] into f32 [n, m].</summary>
    public static void PrintLlamaCases(TextWriter output)
    {
        foreach (var type in BenchmarkTypes.Supported().Union(LlamaOnlyTypes))
        {
            var info = GgmlTypeTraits.Get(type);
            foreach (var (n, k, m) in VectorShapes.Select(s => Shape(s, 1)).Concat(Batches.Select(b => Shape(MatMatShape, b))))
            {
                var row = info.RowSizeBytes(k);
                output.WriteLine(
                    $"29 0 {n} {m} 1 1 0 2 {info.Id} {k} {n} 1 1 {info.TypeSize} {row} {row * n} {row * n} " +
                    $"0 {k} {m} 1 1 4 {4 * k} {4 * k * m} {4 * k * m} {CaseName(info, n, k, m)}");
            }
        }
    }

    /// <summary>report [--results DIR] [--llama1 FILE[,FILE...]] [--llama2 FILE[,FILE...]]: markdown tables on standard output.</summary>
    public static void Print(string[] args, TextWriter output)
    {
        // Every *-report.csv below the folder: runs split by type (--artifacts per run) are merged.
        var results = Option(args, "--results") ?? "BenchmarkDotNet.Artifacts";
        var ours = Directory.GetFiles(results, "*-report.csv", SearchOption.AllDirectories).SelectMany(ReadCsv).ToList();
        var llama = new Dictionary<(string Name, int Threads), double>();
        foreach (var threads in new[] { 1, 2 })
        {
            // Several runs may be given (comma-separated): the fastest per case counts, as a quiet machine would give.
            foreach (var file in Option(args, $"--llama{threads}")?.Split(',') ?? [])
            {
                foreach (Match match in LlamaLine().Matches(File.ReadAllText(file)))
                {
                    var key = (match.Groups[1].Value, threads);
                    var us = double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
                    llama[key] = llama.TryGetValue(key, out var previous) ? Math.Min(previous, us) : us;
                }
            }
        }

        double Bandwidth(int threads) =>
            ours.Where(r => r["Method"] == "ReadSum" && r["Threads"] == $"{threads}").Select(r => Number(r, "GB/s")).FirstOrDefault();

        output.WriteLine("### Memory read bandwidth (sum of a 1 GiB buffer)\n");
        output.WriteLine("| Threads | GB/s |\n|---:|---:|");
        foreach (var threads in new[] { 1, 2 })
        {
            output.WriteLine($"| {threads} | {Bandwidth(threads):F1} |");
        }

        output.WriteLine("\n### Matrix-vector (one token); GB/s = weight bytes / time\n");
        output.WriteLine("| Type | Weights (rows x k) | Threads | QuantPS µs | QuantPS GB/s | % of read BW | llama.cpp µs | llama.cpp GB/s | QuantPS / llama.cpp |");
        output.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in ours.Where(r => r["Method"] == "MatVec").OrderBy(r => TypeOrder(r["Type"])).ThenBy(r => r["Shape"]).ThenBy(r => r["Threads"]))
        {
            var info = Info(row["Type"]);
            var threads = int.Parse(row["Threads"], CultureInfo.InvariantCulture);
            var (n, k, _) = Shape(row["Shape"], 1);
            var us = Number(row, "us/op");
            var bytes = (double)info.RowSizeBytes(k) * n;
            var theirs = llama.TryGetValue((CaseName(info, n, k, 1), threads), out var t) ? t : double.NaN;
            output.WriteLine($"| {info.Name} | {row["Shape"]} | {threads} | {us:F0} | {bytes / us / 1000:F1} | {100 * bytes / us / 1000 / Bandwidth(threads):F0}% " +
                $"| {Cell(theirs, "F0")} | {Cell(bytes / theirs / 1000, "F1")} | {Cell(theirs / us, "F2")} |");
        }

        output.WriteLine($"\n### Matrix-matrix (prompt batch), weights {MatMatShape}; GFLOP/s = 2·rows·k·batch / time\n");
        output.WriteLine("| Type | Batch | Threads | QuantPS ms | QuantPS GFLOP/s | llama.cpp ms | llama.cpp GFLOP/s | QuantPS / llama.cpp |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in ours.Where(r => r["Method"] == "MatMat").OrderBy(r => TypeOrder(r["Type"])).ThenBy(r => int.Parse(r["BatchSize"], CultureInfo.InvariantCulture)).ThenBy(r => r["Threads"]))
        {
            var info = Info(row["Type"]);
            var threads = int.Parse(row["Threads"], CultureInfo.InvariantCulture);
            var (n, k, m) = Shape(MatMatShape, int.Parse(row["BatchSize"], CultureInfo.InvariantCulture));
            var us = Number(row, "us/op");
            var flops = 2.0 * n * k * m;
            var theirs = llama.TryGetValue((CaseName(info, n, k, m), threads), out var t) ? t : double.NaN;
            output.WriteLine($"| {info.Name} | {m} | {threads} | {us / 1000:F1} | {flops / us / 1000:F1} | {Cell(theirs / 1000, "F1")} | {Cell(flops / theirs / 1000, "F1")} | {Cell(theirs / us, "F2")} |");
        }

        output.WriteLine("\n### Dequantize (4096 x 14336, row by row into an L2-resident buffer); GB/s of quantized input\n");
        output.WriteLine("| Type | 1 thread GB/s | 2 threads GB/s |\n|---|---:|---:|");
        foreach (var group in ours.Where(r => r["Method"] == "Dequantize").GroupBy(r => r["Type"]).OrderBy(g => TypeOrder(g.Key)))
        {
            string For(string threads) => group.Where(r => r["Threads"] == threads).Select(r => r["GB/s"]).FirstOrDefault() ?? "-";
            output.WriteLine($"| {group.Key} | {For("1")} | {For("2")} |");
        }

        output.WriteLine("\n### F32 baseline: TensorPrimitives.Dot per row\n");
        output.WriteLine("| Weights | Threads | µs | GB/s | GFLOP/s |\n|---|---:|---:|---:|---:|");
        foreach (var row in ours.Where(r => r["Method"] == "MatVecF32").OrderBy(r => r["Shape"]).ThenBy(r => r["Threads"]))
        {
            output.WriteLine($"| {row["Shape"]} | {row["Threads"]} | {Number(row, "us/op"):F0} | {row["GB/s"]} | {row["GFLOP/s"]} |");
        }

        var measured = ours.Where(r => r.ContainsKey("Type")).Select(r => Info(r["Type"]).GgmlName).ToHashSet();
        var missing = llama.Keys.Select(key => key.Name[..key.Name.LastIndexOf("_n", StringComparison.Ordinal)])
            .Where(name => !measured.Contains(name)).Distinct().ToList();
        if (missing.Count > 0)
        {
            output.WriteLine($"\nllama.cpp figures without a QuantPS row yet (no kernels): see the raw test-backend-ops output for {string.Join(", ", missing)}.");
        }
    }

    private static (long N, long K, long M) Shape(string shape, long m)
    {
        var (n, k) = BenchmarkTypes.ParseShape(shape);
        return (n, k, m);
    }

    private static string CaseName(GgmlTypeInfo info, long n, long k, long m) => $"{info.GgmlName}_n{n}_k{k}_m{m}";

    private static GgmlTypeInfo Info(string name) =>
        GgmlTypeTraits.TryParse(name, out var info) ? info : throw new InvalidDataException($"Unknown type {name} in the CSV.");

    private static int TypeOrder(string name) => (int)Info(name).Type;

    private static string Cell(double value, string format) => double.IsFinite(value) ? value.ToString(format, CultureInfo.InvariantCulture) : "-";

    private static double Number(Dictionary<string, string> row, string column) =>
        double.TryParse(row.GetValueOrDefault(column)?.Replace(",", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : double.NaN;

    private static string? Option(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }

    private static IEnumerable<Dictionary<string, string>> ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        var header = SplitCsv(lines[0]);
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var cells = SplitCsv(line);
            yield return header.Zip(cells).ToDictionary(pair => pair.First, pair => pair.Second);
        }
    }

    private static List<string> SplitCsv(string line)
    {
        var cells = new List<string>();
        var cell = new System.Text.StringBuilder();
        var quoted = false;
        foreach (var c in line)
        {
            if (c == '"')
            {
                quoted = !quoted;
            }
            else if (c == ',' && !quoted)
            {
                cells.Add(cell.ToString());
                cell.Clear();
            }
            else
            {
                cell.Append(c);
            }
        }

        cells.Add(cell.ToString());
        return cells;
    }

    // "MUL_MAT(name=q4_0_n4096_k4096_m1,...):   1816 runs -   944.79 us/run"
    [GeneratedRegex(@"MUL_MAT\(name=([A-Za-z0-9_]+),.*?\):\s+\d+ runs -\s+([0-9.]+) us/run")]
    private static partial Regex LlamaLine();
}
