using QuantPS.Gguf;
using QuantPS.Inference.Tokenizers;
using Xunit;

namespace QuantPS.Tests.Tokenizers;

/// <summary>One rule of llama.cpp's tokenizers at a time, on vocabularies small enough to reason about.</summary>
public sealed class SyntheticVocabularyTests
{
    [Fact]
    public void SentencePiece_merges_the_best_scoring_pair_first()
    {
        var vocab = SyntheticVocab.SentencePiece()
            .Add("▁", -10).Add("a", -10).Add("b", -10).Add("c", -10)
            .Add("ab", -5).Add("bc", -1).Add("▁a", -2);
        var tokenizer = vocab.Build();

        // ▁ a b c: "bc" (-1) beats "▁a" (-2) beats "ab" (-5); after bc and ▁a nothing merges.
        Assert.Equal([vocab.IdOf("▁a"), vocab.IdOf("bc")], tokenizer.Encode("abc", addSpecial: false));
    }

    [Fact]
    public void SentencePiece_spells_characters_without_a_token_in_bytes()
    {
        var vocab = SyntheticVocab.SentencePiece().Add("▁", -1).Add("a", -1);
        var tokenizer = vocab.Build();

        var ids = tokenizer.Encode("aé", addSpecial: false);

        Assert.Equal([vocab.IdOf("▁"), vocab.IdOf("a"), vocab.IdOf("<0xC3>"), vocab.IdOf("<0xA9>")], ids);
        Assert.Equal("aé", tokenizer.Decode(ids));
        Assert.Equal([0xC3], tokenizer.TokenToBytes(vocab.IdOf("<0xC3>")));
    }

    [Fact]
    public void SentencePiece_adds_bos_and_a_space_prefix_after_each_special_token()
    {
        var vocab = SyntheticVocab.SentencePiece().Add("▁", -1).Add("a", -1).Add("b", -1).Add("▁a", -0.5f).Add("▁b", -0.5f);
        var tokenizer = vocab.Build();

        var ids = tokenizer.Encode("a</s>b", addSpecial: true, parseSpecial: true);

        Assert.True(tokenizer.AddBos);
        Assert.Equal([1, vocab.IdOf("▁a"), 2, vocab.IdOf("▁b")], ids);
        Assert.Equal("<s> a</s> b", tokenizer.Decode(ids));
        // The hidden BOS still takes the one leading-space strip, as in llama.cpp.
        Assert.Equal(" a b", tokenizer.Decode(ids, unparseSpecial: false));
        Assert.Equal(" a</s> b", tokenizer.Decode(ids, removeSpecial: true)); // llama.cpp keeps the space once BOS is removed
    }

    [Fact]
    public void Control_tokens_in_text_are_plain_text_unless_parse_special()
    {
        var vocab = SyntheticVocab.SentencePiece().Add("▁", -1).Add("x", -1);
        var tokenizer = vocab.Build();

        Assert.DoesNotContain(2, tokenizer.Encode("x</s>", addSpecial: false, parseSpecial: false));
        Assert.Contains(2, tokenizer.Encode("x</s>", addSpecial: false, parseSpecial: true));
    }

    [Fact]
    public void User_defined_tokens_are_always_recognized_in_text()
    {
        var vocab = SyntheticVocab.SentencePiece().Add("▁", -1).Add("x", -1).Add("<tool>", 0, SyntheticVocab.UserDefined);
        var tokenizer = vocab.Build();

        var ids = tokenizer.Encode("x<tool>x", addSpecial: false, parseSpecial: false);

        Assert.Equal([vocab.IdOf("▁"), vocab.IdOf("x"), vocab.IdOf("<tool>"), vocab.IdOf("▁"), vocab.IdOf("x")], ids);
        Assert.False(tokenizer.IsSpecial(vocab.IdOf("<tool>")));
        Assert.Equal("<tool>", tokenizer.TokenToPiece(vocab.IdOf("<tool>"), special: false));
    }

    [Fact]
    public void End_of_turn_is_found_by_its_text_and_becomes_a_control_token()
    {
        var vocab = SyntheticVocab.SentencePiece().Add("<|im_end|>").Add("<|endoftext|>");
        var tokenizer = vocab.Build();

        Assert.Equal(vocab.IdOf("<|im_end|>"), tokenizer.EotId);
        Assert.True(tokenizer.IsEndOfGeneration(vocab.IdOf("<|im_end|>")));
        Assert.True(tokenizer.IsEndOfGeneration(vocab.IdOf("<|endoftext|>")));
        Assert.True(tokenizer.IsEndOfGeneration(2));
        Assert.True(tokenizer.IsSpecial(vocab.IdOf("<|im_end|>")));
        Assert.Equal(TokenAttributes.Normal | TokenAttributes.Control, tokenizer.GetAttributes(vocab.IdOf("<|im_end|>")));
    }

    [Fact]
    public void Metadata_ids_and_flags_override_the_defaults()
    {
        var tokenizer = SyntheticVocab.SentencePiece().Add("<eot>")
            .With("tokenizer.ggml.eos_token_id", 259u).With("tokenizer.ggml.add_bos_token", false).With("tokenizer.ggml.add_eos_token", true)
            .With("tokenizer.ggml.padding_token_id", uint.MaxValue) // "none", as converters write it
            .Build();

        Assert.Equal(259, tokenizer.EosId);
        Assert.Null(tokenizer.PaddingId);
        Assert.False(tokenizer.AddBos);
        Assert.True(tokenizer.AddEos);
        Assert.Equal([259], tokenizer.Encode(string.Empty, addSpecial: true));
        Assert.Equal(3 + 0x0A, tokenizer.NewlineId);
    }

    [Fact]
    public void A_missing_vocabulary_is_a_clear_error()
    {
        var noModel = new GgufMetadata([GgufMetadataEntry.Of("general.architecture", "llama")]);
        var noTokens = new GgufMetadata([GgufMetadataEntry.Of("tokenizer.ggml.model", "llama")]);

        Assert.Equal(TokenizerErrorKind.MissingVocabulary, Assert.Throws<TokenizerException>(() => LlmTokenizer.FromMetadata(noModel)).Kind);
        var error = Assert.Throws<TokenizerException>(() => LlmTokenizer.FromMetadata(noTokens));
        Assert.Equal("TokenizerMissingVocabulary", error.ErrorId);
        Assert.Contains("tokenizer.ggml.tokens", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unsupported_tokenizer_model_is_a_clear_error()
    {
        var error = Assert.Throws<TokenizerException>(() => new SyntheticVocab("plamo2").Add("a").Build());

        Assert.Equal(TokenizerErrorKind.UnsupportedModel, error.Kind);
        Assert.Equal("plamo2", error.Subject);
        Assert.Contains("'plamo2'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_pre_tokenizer_name_is_a_clear_error()
    {
        var vocab = new SyntheticVocab("gpt2").Add("a").Add("b").With("tokenizer.ggml.pre", "brand-new-llm")
            .With("tokenizer.ggml.merges", new GgufArray(GgufValueType.String, new[] { "a b" }));

        var error = Assert.Throws<TokenizerException>(vocab.Build);

        Assert.Equal("TokenizerUnknownPreTokenizer", error.ErrorId);
        Assert.Contains("'brand-new-llm'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bpe_without_merges_is_an_invalid_vocabulary()
    {
        var error = Assert.Throws<TokenizerException>(new SyntheticVocab("gpt2").Add("a").With("tokenizer.ggml.pre", "gpt-2").Build);

        Assert.Equal(TokenizerErrorKind.InvalidVocabulary, error.Kind);
    }

    [Fact]
    public void A_token_id_outside_the_vocabulary_is_refused()
    {
        var tokenizer = SyntheticVocab.SentencePiece().Build();

        var error = Assert.Throws<TokenizerException>(() => tokenizer.Decode([1, 5000]));

        Assert.Equal(TokenizerErrorKind.InvalidTokenId, error.Kind);
        Assert.Contains("5000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Adding_a_bos_the_vocabulary_lacks_is_refused_with_the_way_out()
    {
        var vocab = new SyntheticVocab("gpt2").Add("a").Add("b").Add("ab")
            .With("tokenizer.ggml.pre", "gpt-2").With("tokenizer.ggml.add_bos_token", true)
            .With("tokenizer.ggml.merges", new GgufArray(GgufValueType.String, new[] { "a b" }));
        var tokenizer = vocab.Build();

        Assert.Equal([2], tokenizer.Encode("ab", addSpecial: false));
        var error = Assert.Throws<TokenizerException>(() => tokenizer.Encode("ab", addSpecial: true));
        Assert.Equal(TokenizerErrorKind.MissingSpecialToken, error.Kind);
        Assert.Contains("addSpecial: false", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bpe_merges_by_rank_within_each_word()
    {
        // "Ġ" is GPT-2's character for the space byte.
        var vocab = new SyntheticVocab("gpt2").Add("a").Add("b").Add("c").Add("Ġ").Add("bc").Add("ab").Add("Ġa").Add("Ġab")
            .With("tokenizer.ggml.pre", "gpt-2")
            .With("tokenizer.ggml.merges", new GgufArray(GgufValueType.String, new[] { "b c", "Ġ a", "a b", "Ġa b" }));
        var tokenizer = vocab.Build();

        // "abc" → a b c → a bc (rank 0); " ab" → Ġ a b → Ġa b (rank 1) → Ġab (rank 3).
        Assert.Equal([vocab.IdOf("a"), vocab.IdOf("bc"), vocab.IdOf("Ġab")], tokenizer.Encode("abc ab", addSpecial: false));
        Assert.Equal("abc ab", tokenizer.Decode(tokenizer.Encode("abc ab", addSpecial: false)));
    }

    [Fact]
    public void Unigram_takes_the_best_scoring_segmentation_and_merges_unknown_runs()
    {
        var vocab = new SyntheticVocab("t5").Add("<pad>", 0, SyntheticVocab.Control).Add("</s>", 0, SyntheticVocab.Control).Add("<unk>", 0, SyntheticVocab.Unknown)
            .Add("▁", -1).Add("a", -3).Add("b", -3).Add("ab", -4).Add("▁ab", -7)
            .With("tokenizer.ggml.add_space_prefix", true);
        var tokenizer = vocab.Build();

        // ▁ab (-7) loses to ▁ + ab (-5); "zz" has no token: one <unk> for the run.
        Assert.Equal([vocab.IdOf("▁"), vocab.IdOf("ab")], tokenizer.Encode("ab", addSpecial: false));
        Assert.Equal([vocab.IdOf("▁"), vocab.IdOf("ab"), 2], tokenizer.Encode("abzz", addSpecial: false));
        Assert.Equal([vocab.IdOf("▁"), vocab.IdOf("a"), 1], tokenizer.Encode("a", addSpecial: true));
    }

    [Fact]
    public void Rwkv_takes_the_longest_escaped_token()
    {
        var vocab = new SyntheticVocab("rwkv").Add("a").Add("ab").Add("abc").Add("\\n").Add("\\x41");
        var tokenizer = vocab.Build();

        Assert.Equal([2, 1, 3, 4], tokenizer.Encode("abcab\nA"));
        Assert.Equal("abcab\nA", tokenizer.Decode([2, 1, 3, 4]));
    }
}
