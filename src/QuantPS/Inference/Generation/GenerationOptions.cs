using QuantPS.Inference.Engine;
using QuantPS.Inference.Sampling;

namespace QuantPS.Inference.Generation;

/// <summary>Everything one generation call can set; defaults follow llama.cpp's (llama-cli) where it has one.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate; -1 = until end of generation or a full context (llama.cpp's n_predict).</summary>
    public int MaxTokens { get; init; } = -1;

    public float Temperature { get; init; } = 0.8f;

    public int TopK { get; init; } = 40;

    public float TopP { get; init; } = 0.95f;

    public float MinP { get; init; } = 0.05f;

    public float RepeatPenalty { get; init; } = 1.0f;

    public int RepeatLastN { get; init; } = 64;

    public float FrequencyPenalty { get; init; }

    public float PresencePenalty { get; init; }

    /// <summary>Null = a random seed (reported in the result).</summary>
    public uint? Seed { get; init; }

    /// <summary>0 = one per logical processor.</summary>
    public int Threads { get; init; }

    /// <summary>0 = the model's trained context, at most <see cref="ContextOptions.DefaultContextLength"/>.</summary>
    public int ContextLength { get; init; }

    public KvCacheType KvCacheType { get; init; } = KvCacheType.F16;

    /// <summary>Texts that end generation when they appear; the text returned stops before them.</summary>
    public IReadOnlyList<string> Stop { get; init; } = Array.Empty<string>();

    /// <summary>Keep generating past end-of-generation tokens (llama.cpp's --ignore-eos), e.g. for benchmarks.</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>
    /// When the context is full, forget the older half of the tokens after the first <see cref="Keep"/> and go on
    /// (llama.cpp's --context-shift); off: stop with ContextFull, llama.cpp's default.
    /// </summary>
    public bool ContextShift { get; init; }

    /// <summary>
    /// Prompt tokens a context shift never forgets (llama.cpp's --keep): 0 = none but BOS, -1 = the whole prompt.
    /// As llama.cpp counts it, BOS comes on top when the tokenizer added one.
    /// </summary>
    public int Keep { get; init; }

    /// <summary>Add the model's BOS (and other special prefix) tokens to the prompt, as llama.cpp does for plain prompts.</summary>
    public bool AddSpecial { get; init; } = true;

    /// <summary>Read special-token texts in the prompt (e.g. from a chat template) as those tokens.</summary>
    public bool ParseSpecial { get; init; } = true;

    internal SamplingOptions ToSampling() => new()
    {
        Temperature = Temperature,
        TopK = TopK,
        TopP = TopP,
        MinP = MinP,
        RepeatPenalty = RepeatPenalty,
        RepeatLastN = RepeatLastN,
        FrequencyPenalty = FrequencyPenalty,
        PresencePenalty = PresencePenalty,
        Seed = Seed,
    };

    internal ContextOptions ToContext() => new()
    {
        ContextLength = ContextLength,
        Threads = Threads,
        KvCacheType = KvCacheType,
        FullSlidingWindowCache = ContextShift, // positions can only move when no layer keeps a ring
    };
}
