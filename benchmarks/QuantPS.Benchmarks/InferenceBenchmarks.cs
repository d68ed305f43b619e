using BenchmarkDotNet.Attributes;
using QuantPS.Inference.Engine;

namespace QuantPS.Benchmarks;

/// <summary>
/// The engine end to end, shaped like llama-bench's pp/tg tests: "Prompt" evaluates 64 tokens in one batch from an
/// empty cache (llama-bench -p 64), "Generate" decodes 32 tokens one at a time after them (-n 32; llama-bench
/// generates from an empty cache, the difference is 64 cached positions of attention). Tokens are fixed ids.
/// Models from ../shared: stories260K (F32), synth-256 (F16) and its Q4_K_M.
/// </summary>
[Config(typeof(QuickConfig))]
public class InferenceBenchmarks
{
    private const int PromptTokens = 64;
    private const int GeneratedTokens = 32;
    private LlmModel? _model;
    private InferenceContext? _context;
    private int[] _prompt = [];

    [Params("stories260K", "synth-256", "synth-256-Q4_K_M")]
    public string Model { get; set; } = "stories260K";

    [Params(1, 2)]
    public int Threads { get; set; } = 2;

    [GlobalSetup]
    public void Setup()
    {
        var shared = TokenizerBenchmarks.SharedFolder();
        var path = Model switch
        {
            "stories260K" => Path.Combine(shared, "models", "tinyllamas-stories260K", "stories260K.gguf"),
            "synth-256" => Path.Combine(shared, "golden", "models", "synth-256.gguf"),
            _ => Path.Combine(shared, "golden", "quantized", "synth-256", Model + ".gguf"),
        };
        _model = LlmModel.Load(path);
        _context = _model.CreateContext(new ContextOptions { ContextLength = 512, Threads = Threads });
        _prompt = Enumerable.Range(0, PromptTokens).Select(i => 1 + (i * 7 % (_model.Config.VocabularySize - 1))).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _context?.Dispose();
        _model?.Dispose();
    }

    /// <summary>Tokens per second = 64 / the time.</summary>
    [Benchmark]
    public float Prompt()
    {
        _context!.Reset();
        return _context.Decode(_prompt)[0];
    }

    /// <summary>Tokens per second = 32 / the time.</summary>
    [Benchmark]
    public float Generate()
    {
        var context = _context!;
        context.Truncate(Math.Min(context.Position, PromptTokens));
        if (context.Position < PromptTokens)
        {
            context.Reset();
            context.Decode(_prompt);
        }

        var sum = 0f;
        var token = 1;
        for (var i = 0; i < GeneratedTokens; i++)
        {
            var logits = context.Decode(token);
            sum += logits[0];
            token = 1 + (i * 13 % 500);
        }

        return sum;
    }
}
