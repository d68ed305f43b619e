using QuantPS.Gguf;
using QuantPS.Inference.Chat;
using QuantPS.Inference.Engine;

namespace QuantPS.Inference.Generation;

/// <summary>
/// A model loaded for inference and kept (Open-LlmModel, until Close-LlmModel or Dispose): the
/// mapped file, its tokenizer and a generator whose context (KV cache, threads) is reused while the settings stay
/// the same. One generation at a time; a second caller waits.
/// </summary>
public sealed class LlmModelHandle : IDisposable
{
    private readonly LlmModel _model;
    private readonly TextGenerator _generator;
    private readonly GgufMetadata _metadata;
    private bool _closed;

    private LlmModelHandle(LlmModel model, GgufMetadata metadata)
    {
        _model = model;
        _metadata = metadata;
        _generator = new TextGenerator(model, ownsModel: true);
    }

    /// <summary>The file loaded (the first shard of a split model).</summary>
    public string Path => _model.Location;

    /// <summary>general.name, else the file name.</summary>
    public string Name => _model.Name;

    public string Architecture => _model.Config.Architecture;

    public int LayerCount => _model.Config.LayerCount;

    public int EmbeddingLength => _model.Config.EmbeddingLength;

    /// <summary>The context length the model was trained with (its metadata's context_length).</summary>
    public int TrainedContextLength => _model.Config.TrainedContextLength;

    public int VocabularySize => _model.Config.VocabularySize;

    /// <summary>Bytes of the mapped file(s).</summary>
    public long FileLength => _model.FileLength;

    public bool IsOpen => !_closed;

    internal LlmModel Model => _model;

    /// <summary>Loads <paramref name="path"/>. Throws GgufException, LlmException or TokenizerException.</summary>
    public static LlmModelHandle Open(string path)
    {
        var gguf = GgufModel.Open(path);
        LlmModel model;
        try
        {
            model = LlmModel.FromGguf(gguf);
        }
        catch
        {
            gguf.Dispose();
            throw;
        }

        return new LlmModelHandle(model, gguf.Metadata);
    }

    /// <summary>The chat template to format messages with: <paramref name="name"/>, else the model's own.</summary>
    public ChatTemplate ChatTemplateFor(string? name) => ChatTemplate.FromMetadata(_metadata, name);

    /// <summary>Runs one generation; calls are serialized so a shared handle stays consistent.</summary>
    public GenerationResult Generate(string prompt, GenerationOptions options, Action<string>? onText, CancellationToken cancellationToken)
    {
        lock (_generator)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            return _generator.Generate(prompt, options, onText, cancellationToken);
        }
    }

    public void Dispose()
    {
        lock (_generator)
        {
            if (_closed) return;
            _closed = true;
            _generator.Dispose();
        }
    }

    public override string ToString() => $"{Name} ({Architecture}, {System.IO.Path.GetFileName(Path)}{(_closed ? ", closed" : string.Empty)})";
}
