namespace QuantPS.Inference.Generation;

/// <summary>Why generation ended.</summary>
public enum StopReason
{
    /// <summary>The model produced an end-of-generation token (EOS, EOT...).</summary>
    EndOfGeneration,

    /// <summary>MaxTokens were generated.</summary>
    MaxTokens,

    /// <summary>One of the stop strings appeared.</summary>
    StopString,

    /// <summary>The context window is full.</summary>
    ContextFull,

    /// <summary>The caller cancelled.</summary>
    Cancelled,
}

/// <summary>The outcome of one generation call.</summary>
public sealed record GenerationResult
{
    /// <summary>The generated text (without the prompt, end-of-generation tokens or stop strings).</summary>
    public required string Text { get; init; }

    /// <summary>Tokens of the prompt, special ones included.</summary>
    public required int PromptTokens { get; init; }

    /// <summary>Tokens generated (sampled), including a final end-of-generation token.</summary>
    public required int GeneratedTokens { get; init; }

    /// <summary>The generated token ids, in order.</summary>
    public required IReadOnlyList<int> TokenIds { get; init; }

    public required StopReason StopReason { get; init; }

    /// <summary>The seed the sampler used: pass it back to replay the same text.</summary>
    public required uint Seed { get; init; }

    public required TimeSpan PromptDuration { get; init; }

    public required TimeSpan GenerationDuration { get; init; }

    /// <summary>Prompt tokens evaluated per second.</summary>
    public double PromptTokensPerSecond => PromptDuration.TotalSeconds > 0 ? PromptTokens / PromptDuration.TotalSeconds : 0;

    /// <summary>Generated tokens per second (each a forward pass and a sample).</summary>
    public double TokensPerSecond => GenerationDuration.TotalSeconds > 0 ? GeneratedTokens / GenerationDuration.TotalSeconds : 0;
}
