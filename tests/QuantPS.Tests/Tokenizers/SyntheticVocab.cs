using QuantPS.Gguf;
using QuantPS.Inference.Tokenizers;

namespace QuantPS.Tests.Tokenizers;

/// <summary>Small vocabularies written as GGUF metadata, to test one rule at a time.</summary>
internal sealed class SyntheticVocab
{
    public const int Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Byte = 6;

    private readonly List<(string Text, float Score, int Type)> _tokens = [];
    private readonly List<GgufMetadataEntry> _extra = [];
    private readonly string _model;

    public SyntheticVocab(string model) => _model = model;

    /// <summary>A SentencePiece vocabulary with &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt; and the 256 byte tokens (ids 0..258).</summary>
    public static SyntheticVocab SentencePiece()
    {
        var vocab = new SyntheticVocab("llama").Add("<unk>", 0, Unknown).Add("<s>", 0, Control).Add("</s>", 0, Control);
        for (var b = 0; b < 256; b++)
        {
            vocab.Add($"<0x{b:X2}>", 0, Byte);
        }

        return vocab;
    }

    public SyntheticVocab Add(string text, float score = 0, int type = Normal)
    {
        _tokens.Add((text, score, type));
        return this;
    }

    public SyntheticVocab With(string key, object value)
    {
        _extra.Add(GgufMetadataEntry.Of(key, value));
        return this;
    }

    public int IdOf(string text) => _tokens.FindLastIndex(t => t.Text == text);

    public GgufMetadata Metadata()
    {
        var entries = new List<GgufMetadataEntry>
        {
            GgufMetadataEntry.Of("tokenizer.ggml.model", _model),
            GgufMetadataEntry.Of("tokenizer.ggml.tokens", new GgufArray(GgufValueType.String, _tokens.Select(t => t.Text).ToArray())),
            GgufMetadataEntry.Of("tokenizer.ggml.scores", new GgufArray(GgufValueType.Float32, _tokens.Select(t => t.Score).ToArray())),
            GgufMetadataEntry.Of("tokenizer.ggml.token_type", new GgufArray(GgufValueType.Int32, _tokens.Select(t => t.Type).ToArray())),
        };
        entries.AddRange(_extra);
        return new GgufMetadata(entries);
    }

    public LlmTokenizer Build() => LlmTokenizer.FromMetadata(Metadata());
}
