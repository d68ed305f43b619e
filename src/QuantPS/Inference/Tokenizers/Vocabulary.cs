using System.Globalization;
using QuantPS.Gguf;

namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// A model's vocabulary as llama.cpp loads it from tokenizer.ggml.*: token texts, scores and
/// attributes, the special ids, the flags each tokenizer kind and pre-tokenizer implies, and
/// the fixes llama.cpp applies by token text (end-of-generation tokens, unused tokens...).
/// </summary>
internal sealed partial class Vocabulary
{
    public const string TokensKey = "tokenizer.ggml.tokens";
    public const string ModelKey = "tokenizer.ggml.model";
    public const string PreKey = "tokenizer.ggml.pre";
    public const string MergesKey = "tokenizer.ggml.merges";

    private Vocabulary(GgufMetadata metadata)
    {
        ModelName = metadata.GetString(ModelKey)
            ?? throw new TokenizerException(TokenizerErrorKind.MissingVocabulary,
                $"The model has no {ModelKey}: it carries no tokenizer. Use the model's GGUF with its vocabulary (llama.cpp's converters always write one).", ModelKey);
        PreName = metadata.GetString(PreKey);
        Metadata = metadata;
    }

    public GgufMetadata Metadata { get; }

    public string ModelName { get; }

    public string? PreName { get; private set; }

    public TokenizerKind Kind { get; private set; }

    public PreTokenizerDefinition? PreTokenizer { get; private set; }

    public string[] Texts { get; private set; } = [];

    public float[] Scores { get; private set; } = [];

    public TokenAttributes[] Attributes { get; private set; } = [];

    public TokenLookup Lookup { get; private set; } = null!;

    /// <summary>Special tokens longest first: the order text is searched for them.</summary>
    public int[] SpecialTokensLongestFirst { get; private set; } = [];

    public HashSet<int> EndOfGenerationIds { get; } = [];

    public int Bos { get; private set; } = -1;
    public int Eos { get; private set; } = -1;
    public int Eot { get; private set; } = -1;
    public int Eom { get; private set; } = -1;
    public int Unknown { get; private set; } = -1;
    public int Separator { get; private set; } = -1;
    public int Padding { get; private set; } = -1;
    public int Mask { get; private set; } = -1;
    public int FimPrefix { get; private set; } = -1;
    public int FimSuffix { get; private set; } = -1;
    public int FimMiddle { get; private set; } = -1;
    public int FimPad { get; private set; } = -1;
    public int FimRepo { get; private set; } = -1;
    public int FimSeparator { get; private set; } = -1;

    public bool AddSpacePrefix { get; private set; }
    public bool AddBos { get; private set; }
    public bool AddEos { get; private set; }
    public bool AddSeparator { get; private set; }
    public bool IgnoreMerges { get; private set; }
    public bool CleanSpaces { get; private set; }
    public bool RemoveExtraWhitespaces { get; private set; }
    public bool EscapeWhitespaces { get; private set; } = true;
    public bool Lowercase { get; private set; } = true;
    public bool StripAccents { get; private set; } = true;

    /// <summary>The longest token text, in UTF-16 units (bounds WordPiece's longest-match search).</summary>
    public int MaxTokenLength { get; private set; }

    public int Count => Texts.Length;

    public static Vocabulary Load(GgufMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var vocabulary = new Vocabulary(metadata);
        vocabulary.ChooseKindAndDefaults();
        vocabulary.LoadTokens();
        vocabulary.LoadSpecialIds();
        vocabulary.DetectSpecialTokensByText();
        vocabulary.ApplyModelSpecificAttributes();
        return vocabulary;
    }

    public bool Has(TokenAttributes attributes, int id) => (Attributes[id] & attributes) != 0;

    /// <summary>
    /// The token for one byte: its GPT-2 character for byte-level BPE, otherwise "&lt;0xXX&gt;"
    /// (or, for ASCII, the character itself), or -1.
    /// </summary>
    public int ByteToken(byte value)
    {
        if (Kind == TokenizerKind.BytePairEncoding && !EscapeWhitespaces)
        {
            return Lookup.Find(ByteLevelEncoding.Encode(value).ToString());
        }

        var hex = Lookup.Find($"<0x{value:X2}>");
        return hex >= 0 || value >= 0x80 ? hex : Lookup.Find(((char)value).ToString());
    }

    private void ChooseKindAndDefaults()
    {
        (Bos, Eos, Unknown) = (1, 2, 0);
        switch (ModelName)
        {
            case "llama":
                Kind = TokenizerKind.SentencePiece;
                break;
            case "bert":
                Kind = TokenizerKind.WordPiece;
                (Bos, Eos, Unknown, Separator, Padding, Mask) = (101, -1, 100, 102, 0, 103);
                AddSeparator = true;
                break;
            case "gpt2" or "hybriddna" or "whitespace" or "gemma4":
                Kind = TokenizerKind.BytePairEncoding;
                (Bos, Eos, Unknown) = ModelName == "gemma4" ? (-1, -1, -1) : (11, 11, -1);
                PreName = ModelName == "gemma4" ? "gemma4" : PreName;
                break;
            case "t5":
                Kind = TokenizerKind.Unigram;
                (Bos, Eos, Unknown, Padding) = (-1, 1, 2, 0);
                break;
            case "rwkv":
                Kind = TokenizerKind.Rwkv;
                (Bos, Eos, Unknown) = (-1, -1, -1);
                break;
            case "no_vocab" or "none":
                throw new TokenizerException(TokenizerErrorKind.MissingVocabulary,
                    $"{ModelKey} is '{ModelName}': this model was converted without a vocabulary, so it cannot tokenize text.", ModelKey);
            default:
                throw new TokenizerException(TokenizerErrorKind.UnsupportedModel,
                    $"Tokenizer model '{ModelName}' ({ModelKey}) is not supported. Supported: llama (SentencePiece), gpt2 (byte-level BPE, also hybriddna, whitespace, gemma4), bert (WordPiece), t5 (Unigram), rwkv.",
                    ModelName);
        }

        switch (Kind)
        {
            case TokenizerKind.BytePairEncoding:
                (AddSpacePrefix, EscapeWhitespaces, CleanSpaces) = (false, false, true);
                ApplyPreTokenizer();
                break;
            case TokenizerKind.SentencePiece:
                (AddSpacePrefix, CleanSpaces, AddBos, AddEos) = (true, false, true, false);
                break;
            case TokenizerKind.WordPiece:
                (AddSpacePrefix, CleanSpaces, AddBos, AddEos, AddSeparator) = (false, true, true, false, true);
                break;
            case TokenizerKind.Unigram:
                (AddBos, AddEos) = (false, true);
                break;
            case TokenizerKind.Rwkv:
                (AddSpacePrefix, CleanSpaces, AddBos, AddEos) = (false, false, false, false);
                break;
        }

        AddSpacePrefix = Metadata.GetBool("tokenizer.ggml.add_space_prefix") ?? AddSpacePrefix;
        RemoveExtraWhitespaces = Metadata.GetBool("tokenizer.ggml.remove_extra_whitespaces") ?? RemoveExtraWhitespaces;
    }

    private void ApplyPreTokenizer()
    {
        var (definition, options) = PreTokenizerCatalog.Resolve(PreName);
        PreTokenizer = definition;
        IgnoreMerges |= options.HasFlag(PreTokenizerOptions.IgnoreMerges);
        AddBos |= options.HasFlag(PreTokenizerOptions.AddBos);
        AddSeparator |= options.HasFlag(PreTokenizerOptions.AddSeparator);
        EscapeWhitespaces |= options.HasFlag(PreTokenizerOptions.EscapeWhitespace);
        CleanSpaces &= !options.HasFlag(PreTokenizerOptions.KeepSpaces);
        Lowercase &= !options.HasFlag(PreTokenizerOptions.NoLowercase);
        if (options.HasFlag(PreTokenizerOptions.NoBos))
        {
            Bos = -1;
        }
    }

    private void LoadTokens()
    {
        var tokens = Metadata.GetArray(TokensKey)
            ?? throw new TokenizerException(TokenizerErrorKind.MissingVocabulary,
                $"The model has no {TokensKey} array: it carries no vocabulary to tokenize with.", TokensKey);
        if (tokens.ElementType != GgufValueType.String)
        {
            throw Invalid(TokensKey, $"{TokensKey} must be an array of strings, not of {tokens.ElementType}.");
        }

        var texts = (string[])tokens.As<string>().Clone();
        var count = texts.Length;
        var scores = new float[count];
        var scoreArray = Metadata.GetArray("tokenizer.ggml.scores");
        if (scoreArray is not null)
        {
            CheckLength(scoreArray, "tokenizer.ggml.scores", count);
            switch (scoreArray.ElementType)
            {
                case GgufValueType.Float32: Array.Copy(scoreArray.As<float>(), scores, count); break;
                case GgufValueType.Int32: for (var i = 0; i < count; i++) { scores[i] = scoreArray.As<int>()[i]; } break;
                default: throw Invalid("tokenizer.ggml.scores", $"tokenizer.ggml.scores must hold Float32 or Int32, not {scoreArray.ElementType}.");
            }
        }

        var attributes = new TokenAttributes[count];
        var types = Metadata.GetArray("tokenizer.ggml.token_type");
        if (types is not null && types.ElementType != GgufValueType.Int32)
        {
            throw Invalid("tokenizer.ggml.token_type", $"tokenizer.ggml.token_type must hold Int32, not {types.ElementType}.");
        }

        if (types is not null)
        {
            CheckLength(types, "tokenizer.ggml.token_type", count);
        }

        var maxLength = 0;
        for (var i = 0; i < count; i++)
        {
            // llama.cpp names empty tokens so that every text is unique and findable.
            if (texts[i].Length == 0)
            {
                texts[i] = "[EMPTY_" + i.ToString(CultureInfo.InvariantCulture) + "]";
            }

            maxLength = Math.Max(maxLength, texts[i].Length);
            attributes[i] = types is null ? TokenAttributes.Normal : TokenTypes.ToAttributes(types.As<int>()[i]);
        }

        (Texts, Scores, Attributes, MaxTokenLength) = (texts, scores, attributes, maxLength);
        Lookup = new TokenLookup(texts);
    }

    private static void CheckLength(GgufArray array, string key, int tokens)
    {
        if (array.Count < tokens)
        {
            throw Invalid(key, $"{key} has {array.Count} entries for {tokens} tokens: the vocabulary is damaged. Reconvert the model.");
        }
    }

    private static TokenizerException Invalid(string key, string message) => new(TokenizerErrorKind.InvalidVocabulary, message, key);

    private void LoadSpecialIds()
    {
        Bos = ReadId("bos", Bos);
        Eos = ReadId("eos", Eos);
        Eot = ReadId("eot", Eot);
        Eom = ReadId("eom", Eom);
        Unknown = ReadId("unknown", Unknown);
        Separator = ReadId("seperator", Separator); // sic: the GGUF key is spelled so
        Padding = ReadId("padding", Padding);
        Mask = ReadId("mask", Mask);
        FimPrefix = ReadId("fim_pre", FimPrefix);
        FimSuffix = ReadId("fim_suf", FimSuffix);
        FimMiddle = ReadId("fim_mid", FimMiddle);
        FimPad = ReadId("fim_pad", FimPad);
        FimRepo = ReadId("fim_rep", FimRepo);
        FimSeparator = ReadId("fim_sep", FimSeparator);
        FimPrefix = ReadId("prefix", FimPrefix);
        FimSuffix = ReadId("suffix", FimSuffix);
        FimMiddle = ReadId("middle", FimMiddle);

        AddBos = Metadata.GetBool("tokenizer.ggml.add_bos_token") ?? AddBos;
        AddEos = Metadata.GetBool("tokenizer.ggml.add_eos_token") ?? AddEos;
        AddSeparator = Metadata.GetBool("tokenizer.ggml.add_sep_token") ?? AddSeparator;
        if (PreTokenizer?.Type == "gemma4")
        {
            AddBos = true; // llama.cpp overrides it for Gemma 4
        }

        Lowercase = Metadata.GetBool("tokenizer.ggml.normalizer.lowercase") ?? Lowercase;
        StripAccents = Metadata.GetBool("tokenizer.ggml.normalizer.strip_accents") ?? Lowercase;
    }

    // A default id outside the vocabulary is dropped; a stored one outside it is ignored (llama.cpp warns).
    private int ReadId(string name, int current)
    {
        if (current >= Count)
        {
            current = -1;
        }

        var stored = Metadata.GetInteger($"tokenizer.ggml.{name}_token_id");
        return stored is { } id && id >= 0 && id < Count ? (int)id : current;
    }
}
