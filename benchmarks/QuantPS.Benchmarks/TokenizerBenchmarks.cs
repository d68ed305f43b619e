using BenchmarkDotNet.Attributes;
using QuantPS.Gguf;
using QuantPS.Inference.Tokenizers;

namespace QuantPS.Benchmarks;

/// <summary>
/// Tokenizing 1 MiB of English prose (../shared's eval and calibration texts, repeated) with a
/// SentencePiece (llama-spm) and a byte-level BPE (gpt-2) vocabulary. "Warm" reuses one
/// tokenizer, whose word caches fill on the first pass, as a long-running process does; "Cold"
/// builds the tokenizer afresh for every pass (loading excluded), so every word is merged.
/// GB/s is megabytes per millisecond: 0.02 GB/s = 20 MB/s.
/// </summary>
[Config(typeof(QuickConfig))]
public class TokenizerBenchmarks : IWorkload
{
    private const int TextBytes = 1 << 20;
    private string _text = string.Empty;
    private GgufMetadata? _metadata;
    private LlmTokenizer? _warm;
    private LlmTokenizer? _cold;

    [Params("llama-spm", "gpt-2")]
    public string Vocabulary { get; set; } = "llama-spm";

    public double BytesPerOperation => TextBytes;

    public double FlopsPerOperation => 0;

    [GlobalSetup]
    public void Setup()
    {
        var shared = SharedFolder();
        using (var model = GgufModel.Open(Path.Combine(shared, "models", "llama.cpp-vocab", $"ggml-vocab-{Vocabulary}.gguf")))
        {
            _metadata = model.Metadata;
        }

        var prose = File.ReadAllText(Path.Combine(shared, "golden", "text", "eval.txt")) + File.ReadAllText(Path.Combine(shared, "golden", "text", "calibration.txt"));
        var builder = new System.Text.StringBuilder(TextBytes + prose.Length);
        while (System.Text.Encoding.UTF8.GetByteCount(builder.ToString()) < TextBytes)
        {
            builder.Append(prose);
        }

        var bytes = System.Text.Encoding.UTF8.GetBytes(builder.ToString());
        _text = System.Text.Encoding.UTF8.GetString(bytes, 0, TextBytes).TrimEnd('\uFFFD');
        _warm = LlmTokenizer.FromMetadata(_metadata);
        _warm.Encode(_text, addSpecial: false);
    }

    [IterationSetup(Target = nameof(Cold))]
    public void NewTokenizer() => _cold = LlmTokenizer.FromMetadata(_metadata!);

    [Benchmark]
    public int Warm() => _warm!.Encode(_text, addSpecial: false).Length;

    [Benchmark]
    [InvocationCount(1)]
    public int Cold() => _cold!.Encode(_text, addSpecial: false).Length;

    // ../shared beside the repository (or QUANTPS_SHARED), as the tests find it.
    internal static string SharedFolder()
    {
        if (Environment.GetEnvironmentVariable("QUANTPS_SHARED") is { Length: > 0 } configured)
        {
            return configured;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "QuantPS.sln")))
            {
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared"));
            }
        }

        throw new InvalidOperationException("QuantPS.sln not found: set QUANTPS_SHARED to the shared folder.");
    }
}
