using QuantPS.Gguf;

namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// Text ↔ token ids for a GGUF model, the way llama.cpp's llama_tokenize and
/// llama_detokenize do it: the same ids for the same text, the same pieces back. Built once per
/// model from its tokenizer.ggml.* metadata; thread-safe.
/// </summary>
public sealed partial class LlmTokenizer
{
    private readonly Vocabulary _vocabulary;
    private readonly SentencePieceEncoder? _sentencePiece;
    private readonly BytePairEncoder? _bytePair;
    private readonly WordPieceEncoder? _wordPiece;
    private readonly UnigramEncoder? _unigram;
    private readonly RwkvEncoder? _rwkv;

    private LlmTokenizer(Vocabulary vocabulary)
    {
        _vocabulary = vocabulary;
        switch (vocabulary.Kind)
        {
            case TokenizerKind.SentencePiece: _sentencePiece = new SentencePieceEncoder(vocabulary); break;
            case TokenizerKind.BytePairEncoding: _bytePair = new BytePairEncoder(vocabulary); break;
            case TokenizerKind.WordPiece: _wordPiece = new WordPieceEncoder(vocabulary); break;
            case TokenizerKind.Unigram: _unigram = new UnigramEncoder(vocabulary); break;
            case TokenizerKind.Rwkv: _rwkv = new RwkvEncoder(vocabulary); break;
        }

        NewlineId = FindNewline();
    }

    /// <summary>The tokenizer of an opened model.</summary>
    public static LlmTokenizer FromModel(GgufModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return FromMetadata(model.Metadata);
    }

    /// <summary>The tokenizer described by GGUF metadata (tokenizer.ggml.*).</summary>
    public static LlmTokenizer FromMetadata(GgufMetadata metadata) => new(Vocabulary.Load(metadata));

    public TokenizerKind Kind => _vocabulary.Kind;

    /// <summary>tokenizer.ggml.model: "llama", "gpt2", "bert", ...</summary>
    public string ModelName => _vocabulary.ModelName;

    /// <summary>The pre-tokenizer in use for BPE vocabularies (tokenizer.ggml.pre, "default" when absent); null otherwise.</summary>
    public string? PreTokenizer => _vocabulary.Kind == TokenizerKind.BytePairEncoding ? _vocabulary.PreName ?? "default" : null;

    public int VocabularySize => _vocabulary.Count;

    public int? BosId => Id(_vocabulary.Bos);

    public int? EosId => Id(_vocabulary.Eos);

    /// <summary>End of turn (&lt;|eot_id|&gt;, &lt;|im_end|&gt;, &lt;end_of_turn&gt;...), from metadata or found by its text as llama.cpp does.</summary>
    public int? EotId => Id(_vocabulary.Eot);

    public int? EomId => Id(_vocabulary.Eom);

    public int? UnknownId => Id(_vocabulary.Unknown);

    public int? SeparatorId => Id(_vocabulary.Separator);

    public int? PaddingId => Id(_vocabulary.Padding);

    public int? MaskId => Id(_vocabulary.Mask);

    public int? NewlineId { get; }

    public int? FimPrefixId => Id(_vocabulary.FimPrefix);

    public int? FimSuffixId => Id(_vocabulary.FimSuffix);

    public int? FimMiddleId => Id(_vocabulary.FimMiddle);

    /// <summary>True when the model wants BOS before text it is given (tokenizer.ggml.add_bos_token or the kind's default).</summary>
    public bool AddBos => _vocabulary.AddBos;

    public bool AddEos => _vocabulary.AddEos;

    public bool AddSeparator => _vocabulary.AddSeparator;

    /// <summary>SentencePiece's leading space before text ("Hello" is tokenized as " Hello").</summary>
    public bool AddSpacePrefix => _vocabulary.AddSpacePrefix;

    /// <summary>Tokens that end generation (EOS, EOT, EOM and the end tokens llama.cpp finds by text).</summary>
    public IReadOnlyCollection<int> EndOfGenerationIds => _vocabulary.EndOfGenerationIds;

    public bool IsEndOfGeneration(int id) => _vocabulary.EndOfGenerationIds.Contains(id);

    /// <summary>Control and unknown tokens: text that is markup for the model, shown only on request.</summary>
    public bool IsSpecial(int id) => _vocabulary.Has(TokenAttributes.Control | TokenAttributes.Unknown, CheckId(id));

    public TokenAttributes GetAttributes(int id) => _vocabulary.Attributes[CheckId(id)];

    /// <summary>The token's text as stored in the vocabulary (e.g. "▁Hello", "Ġworld", "&lt;0x0A&gt;").</summary>
    public string GetTokenText(int id) => _vocabulary.Texts[CheckId(id)];

    public float GetScore(int id) => _vocabulary.Scores[CheckId(id)];

    /// <summary>The id of the token whose vocabulary text is exactly <paramref name="text"/>, or null.</summary>
    public int? FindToken(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Id(_vocabulary.Lookup.Find(text));
    }

    private static int? Id(int id) => id >= 0 ? id : null;

    private int CheckId(int id) =>
        (uint)id < (uint)_vocabulary.Count ? id
            : throw new TokenizerException(TokenizerErrorKind.InvalidTokenId,
                $"Token id {id} is outside this vocabulary (0..{_vocabulary.Count - 1}).", id.ToString(System.Globalization.CultureInfo.InvariantCulture));

    // llama.cpp's linefeed token: the newline byte for SentencePiece, padding for WordPiece,
    // otherwise the first token of "\n" as plain text.
    private int? FindNewline()
    {
        switch (Kind)
        {
            case TokenizerKind.SentencePiece:
                var id = _vocabulary.ByteToken((byte)'\n');
                return id >= 0 ? id : PaddingId;
            case TokenizerKind.WordPiece:
                return PaddingId;
            default:
                var tokens = new List<int>();
                EncodeText("\n", tokens);
                return tokens.Count > 0 ? tokens[0] : PaddingId;
        }
    }
}
