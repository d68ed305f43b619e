using QuantPS.Gguf;
using QuantPS.Inference.Tokenizers;

namespace QuantPS.Inference.Engine;

/// <summary>
/// A loaded model: the mapped GGUF, its hyperparameters, its weights (views into the mapping) and its tokenizer.
/// Immutable once loaded and safe to share; each generation runs in its own <see cref="InferenceContext"/>.
/// Disposing unmaps the file, so dispose the contexts first.
/// </summary>
public sealed class LlmModel : IDisposable
{
    private readonly GgufModel _gguf;
    private bool _disposed;

    private LlmModel(GgufModel gguf, ModelConfig config, ModelWeights weights, LlmTokenizer tokenizer)
    {
        _gguf = gguf;
        Config = config;
        Weights = weights;
        Tokenizer = tokenizer;
    }

    /// <summary>Where the model was loaded from.</summary>
    public string Location => _gguf.Location;

    /// <summary>general.name, else the file name.</summary>
    public string Name => _gguf.Metadata.GetString("general.name") ?? System.IO.Path.GetFileNameWithoutExtension(Location);

    public ModelConfig Config { get; }

    public ModelWeights Weights { get; }

    public LlmTokenizer Tokenizer { get; }

    /// <summary>Bytes of the mapped file(s).</summary>
    public long FileLength => _gguf.FileLength;

    internal bool IsDisposed => _disposed;

    /// <summary>Maps <paramref name="path"/> and prepares it for inference.</summary>
    /// <exception cref="GgufException">The file is missing or is not a valid GGUF.</exception>
    /// <exception cref="LlmException">The architecture is unsupported, or a key or tensor it needs is missing or invalid.</exception>
    /// <exception cref="TokenizerException">The vocabulary cannot be loaded.</exception>
    public static LlmModel Load(string path)
    {
        var gguf = GgufModel.Open(path);
        try
        {
            return FromGguf(gguf);
        }
        catch
        {
            gguf.Dispose();
            throw;
        }
    }

    /// <summary>Wraps an open GGUF model; the new object owns it and disposes it.</summary>
    public static LlmModel FromGguf(GgufModel gguf)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        if (gguf.Shards.Any(s => s.File is null))
        {
            throw new LlmException(LlmErrorKind.InvalidOption,
                $"{gguf.Location} is not a local file; inference needs the model mapped locally.", gguf.Location);
        }

        var config = ModelConfig.FromMetadata(gguf.Metadata);
        var weights = ModelWeights.Load(gguf, config);
        foreach (var shard in gguf.Shards)
        {
            shard.File!.AdviseHugePages(); // every token streams every weight
        }

        var tokenizer = LlmTokenizer.FromModel(gguf);
        if (tokenizer.VocabularySize != config.VocabularySize)
        {
            throw new LlmException(LlmErrorKind.InvalidMetadata,
                $"The tokenizer has {tokenizer.VocabularySize} tokens but the model's output has {config.VocabularySize}.", "tokenizer.ggml.tokens");
        }

        return new LlmModel(gguf, config, weights, tokenizer);
    }

    /// <summary>A fresh context (KV cache, activations, threads) for one sequence at a time.</summary>
    public InferenceContext CreateContext(ContextOptions? options = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new InferenceContext(this, options ?? new ContextOptions());
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _gguf.Dispose();
        }
    }
}
