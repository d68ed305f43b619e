
namespace QuantPS.Inference.Generation;

/// <summary>One reply of a loaded model (what Invoke-LocalLlm returns for each prompt).</summary>
public sealed class LocalLlmResult
{
    public LocalLlmResult(GenerationResult result, string model, string prompt)
    {
        Text = result.Text;
        Prompt = prompt;
        PromptTokens = result.PromptTokens;
        GeneratedTokens = result.GeneratedTokens;
        StopReason = result.StopReason;
        PromptTokensPerSecond = result.PromptTokensPerSecond;
        TokensPerSecond = result.TokensPerSecond;
        PromptDuration = result.PromptDuration;
        GenerationDuration = result.GenerationDuration;
        Seed = result.Seed;
        TokenIds = result.TokenIds.ToArray();
        Model = model;
    }

    /// <summary>The generated text (without the prompt).</summary>
    public string Text { get; }

    /// <summary>The text the model was given: the prompt, or the conversation as the chat template formatted it.</summary>
    public string Prompt { get; }

    public int PromptTokens { get; }

    public int GeneratedTokens { get; }

    public StopReason StopReason { get; }

    public double PromptTokensPerSecond { get; }

    public double TokensPerSecond { get; }

    public TimeSpan PromptDuration { get; }

    public TimeSpan GenerationDuration { get; }

    /// <summary>The sampling seed used: pass it to -Seed to replay the same text.</summary>
    public uint Seed { get; }

    /// <summary>The generated token ids.</summary>
    public int[] TokenIds { get; }

    /// <summary>The model's name.</summary>
    public string Model { get; }

    public override string ToString() => Text;
}
