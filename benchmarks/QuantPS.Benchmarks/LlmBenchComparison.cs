using System.Diagnostics;
using System.Globalization;
using QuantPS.Gguf;
using QuantPS.Inference.Engine;
using QuantPS.Quantization.Job;

namespace QuantPS.Benchmarks;

/// <summary>
/// The engine beside llama-bench on the TinyLlama-1.1B-shaped model (SyntheticModel) and its
/// quantizations: prompt processing of 512 tokens (llama-bench -p 512) and generation of 128
/// (-n 128, from an empty cache as llama-bench does), on 1 and all threads, with each tool's peak
/// resident memory. Every measurement is a separate process under /usr/bin/time; ours repeats each
/// test <c>--reps</c> times after a warm-up and reports the mean, as llama-bench does. Each model file is
/// first evicted from the OS file cache (Linux), so both tools map the pages a fresh read brings in rather
/// than whatever writing the file left there (a file our writer just wrote is cached in 4 KiB pages; read
/// back it comes in 2 MiB folios, which the tools' mappings then cover with huge pages).
/// <c>--shape moe</c> runs the small mixture of experts (<see cref="ModelShape.SmallMoe"/>) instead, <c>--shape
/// llama3-8b</c> Llama-3-8B's shape (<see cref="ModelShape.Llama3_8B"/>; its F16 file takes 16 GB of disk).
/// Run: QUANTPS_LLAMA_BENCH=/path/llama-bench ... -- llm-bench [--types F16,Q8_0,Q4_K_M] [--reps 2] [--shape tinyllama|moe|llama3-8b]
/// </summary>
public static partial class LlmBenchComparison
{
    private const int PromptTokens = 512;
    private const int GeneratedTokens = 128;

    public static void Print(string[] args, TextWriter console)
    {
        var types = Option(args, "--types")?.Split(',') ?? ["Q4_K_M", "Q8_0", "F16"];
        int reps = int.Parse(Option(args, "--reps") ?? "2", CultureInfo.InvariantCulture);
        var shape = ModelShape.Get(Option(args, "--shape") ?? "tinyllama");
        var llamaBench = Environment.GetEnvironmentVariable("QUANTPS_LLAMA_BENCH") is { Length: > 0 } p && File.Exists(p)
            ? p : throw new InvalidOperationException("Set QUANTPS_LLAMA_BENCH to a llama-bench binary to compare with it.");
        var self = Environment.ProcessPath!;
        var selfArgs = self.EndsWith("dotnet", StringComparison.Ordinal) ? new[] { typeof(LlmBenchComparison).Assembly.Location } : [];
        console.WriteLine($"Model: {shape} (SyntheticModel), pp{PromptTokens} / tg{GeneratedTokens}, {reps} repetitions after a warm-up; each file evicted from the file cache first");
        console.WriteLine("| type | size MiB | threads | QuantPS pp t/s | llama.cpp pp t/s | QuantPS tg t/s | llama.cpp tg t/s | tg GB/s (QuantPS) | QuantPS peak MiB | llama.cpp peak MiB |");
        console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var type in types)
        {
            var model = ModelFor(shape, type);
            long bytes = new FileInfo(model).Length;
            EvictFromFileCache(model);
            foreach (int threads in new[] { 1, Environment.ProcessorCount }.Distinct())
            {
                var (ours, ourPeak) = Run([self, .. selfArgs, "llm-bench-once", model, $"{threads}", $"{reps}"]);
                var (theirs, theirPeak) = Run([llamaBench, "-m", model, "-p", $"{PromptTokens}", "-n", $"{GeneratedTokens}", "-t", $"{threads}", "-r", $"{reps}", "-o", "csv"]);
                var (ourPp, ourTg) = ParseOurs(ours);
                var (theirPp, theirTg) = ParseLlamaBench(theirs);
                console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {type} | {bytes / 1048576.0:0} | {threads} | {ourPp:0.0} | {theirPp:0.0} | {ourTg:0.00} | {theirTg:0.00} | {bytes * ourTg / 1e9:0.0} | {ourPeak / 1024.0:0} | {theirPeak / 1024.0:0} |"));
            }
        }
    }

    /// <summary>The child process: pp and tg tokens per second on one model and thread count.</summary>
    public static void Once(string[] args)
    {
        int threads = int.Parse(args[2], CultureInfo.InvariantCulture), reps = int.Parse(args[3], CultureInfo.InvariantCulture);
        using var model = LlmModel.Load(args[1]);
        using var context = model.CreateContext(new ContextOptions { ContextLength = PromptTokens + GeneratedTokens, Threads = threads });
        var prompt = Enumerable.Range(0, PromptTokens).Select(i => 1 + (i * 7 % (model.Config.VocabularySize - 1))).ToArray();
        double pp = 0, tg = 0;
        for (int r = 0; r <= reps; r++)
        {
            context.Reset();
            var clock = Stopwatch.StartNew();
            context.Decode(prompt);
            double ppSeconds = clock.Elapsed.TotalSeconds;

            context.Reset();
            clock.Restart();
            int token = 1;
            for (int i = 0; i < GeneratedTokens; i++)
            {
                context.Decode(token);
                token = 1 + (i * 13 % 500);
            }

            double tgSeconds = clock.Elapsed.TotalSeconds;
            if (r == 0) continue; // warm-up (JIT, page cache)
            pp += PromptTokens / ppSeconds / reps;
            tg += GeneratedTokens / tgSeconds / reps;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"QPS_BENCH {pp} {tg}"));
    }

    // posix_fadvise(POSIX_FADV_DONTNEED): the kernel drops the file's clean cached pages (none are mapped now).
    private static void EvictFromFileCache(string path)
    {
        if (!OperatingSystem.IsLinux()) return;
        using var file = File.OpenHandle(path);
        _ = NativeMethods.posix_fadvise(file.DangerousGetHandle().ToInt32(), 0, 0, NativeMethods.FadviseDontNeed);
    }

    private static partial class NativeMethods
    {
        public const int FadviseDontNeed = 4;

        [System.Runtime.InteropServices.LibraryImport("libc")]
        public static partial int posix_fadvise(int fd, long offset, long length, int advice);
    }

    private static string ModelFor(ModelShape shape, string type)
    {
        var f16 = SyntheticModel.F16Path(shape);
        if (type == "F16") return f16;
        var path = Path.Combine(Path.GetDirectoryName(f16)!, $"{shape.Name}-shape-{type}.gguf");
        if (!File.Exists(path))
        {
            using var input = GgufModel.Open(f16);
            QuantizeJob.Run(input, QuantizePlan.Create(input, QuantizeFileType.Parse(type)), path);
        }

        return path;
    }

    private static (double Pp, double Tg) ParseOurs(string output)
    {
        var line = output.Split('\n').Single(l => l.StartsWith("QPS_BENCH ", StringComparison.Ordinal)).Split(' ');
        return (double.Parse(line[1], CultureInfo.InvariantCulture), double.Parse(line[2], CultureInfo.InvariantCulture));
    }

    // llama-bench -o csv: a header row, then one row per test with avg_ts (tokens per second) and n_prompt / n_gen.
    private static (double Pp, double Tg) ParseLlamaBench(string csv)
    {
        var rows = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(r => SplitCsv(r)).ToArray();
        var header = rows[0];
        int prompt = Array.IndexOf(header, "n_prompt"), gen = Array.IndexOf(header, "n_gen"), ts = Array.IndexOf(header, "avg_ts");
        double pp = 0, tg = 0;
        foreach (var row in rows.Skip(1))
        {
            double value = double.Parse(row[ts], CultureInfo.InvariantCulture);
            if (row[prompt] != "0") pp = value;
            else if (row[gen] != "0") tg = value;
        }

        return (pp, tg);
    }

    private static string[] SplitCsv(string row) => row.Split(',').Select(c => c.Trim().Trim('"')).ToArray();

    private static string? Option(string[] args, string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();

    private static (string Output, long PeakKiB) Run(string[] command)
    {
        var (output, _, peak) = TimedProcess.Run(command);
        return (output, peak);
    }
}
