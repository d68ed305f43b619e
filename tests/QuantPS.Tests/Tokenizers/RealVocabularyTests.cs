using QuantPS.Inference.Tokenizers;
using Xunit;

namespace QuantPS.Tests.Tokenizers;

/// <summary>What llama.cpp derives from real vocabularies: kinds, special ids, strip rules, special parsing.</summary>
public sealed class RealVocabularyTests
{
    [Fact]
    public void Llama_spm_is_sentencepiece_with_bos_and_a_space_prefix()
    {
        var tokenizer = VocabFiles.Load(VocabFiles.VocabPath("llama-spm"));

        Assert.Equal(TokenizerKind.SentencePiece, tokenizer.Kind);
        Assert.Equal(32000, tokenizer.VocabularySize);
        Assert.Equal((1, 2, 0), (tokenizer.BosId, tokenizer.EosId, tokenizer.UnknownId));
        Assert.True(tokenizer.AddBos);
        Assert.False(tokenizer.AddEos);
        Assert.True(tokenizer.AddSpacePrefix);
        Assert.Null(tokenizer.PreTokenizer);
        Assert.Equal(13, tokenizer.NewlineId); // <0x0A>
        Assert.Equal([1, 15043, 3186], tokenizer.Encode("Hello world"));
        Assert.Equal(" Hello", tokenizer.TokenToPiece(15043));
        Assert.Equal("▁Hello", tokenizer.GetTokenText(15043));
    }

    [Fact]
    public void Phi3_ends_turns_with_end_and_swallows_whitespace_after_its_special_tokens()
    {
        var tokenizer = VocabFiles.Load(VocabFiles.VocabPath("phi-3"));

        Assert.Equal(32007, tokenizer.EotId); // <|end|>
        Assert.True(tokenizer.IsEndOfGeneration(32000));
        Assert.True(tokenizer.GetAttributes(32007).HasFlag(TokenAttributes.RStrip));

        // </s> is user-defined in the file, but as an end-of-generation token llama.cpp makes it a
        // control token: plain text unless special tokens are parsed. Parsed, the spaces after it
        // go (Phi-3's strip rule) and the text after it gets the SentencePiece space prefix.
        Assert.DoesNotContain(2, tokenizer.Encode("a</s>   b", addSpecial: false));
        var ids = tokenizer.Encode("a</s>   b", addSpecial: false, parseSpecial: true);
        Assert.Equal([.. tokenizer.Encode("a", addSpecial: false), 2, .. tokenizer.Encode("b", addSpecial: false)], ids);

        var chat = tokenizer.Encode("<|user|>\nHi<|end|>\n<|assistant|>", addSpecial: true, parseSpecial: true);
        Assert.Equal([1, 32010, .. tokenizer.Encode("Hi", addSpecial: false), 32007, 32001], chat);
    }

    [Fact]
    public void Gpt2_control_tokens_are_parsed_only_on_request()
    {
        var tokenizer = VocabFiles.Load(VocabFiles.VocabPath("gpt-2"));

        Assert.Equal(TokenizerKind.BytePairEncoding, tokenizer.Kind);
        Assert.Equal("gpt-2", tokenizer.PreTokenizer);
        Assert.False(tokenizer.AddBos);
        Assert.Equal(50256, tokenizer.EotId);
        Assert.Equal(198, tokenizer.NewlineId);
        Assert.Contains(50256, tokenizer.Encode("a<|endoftext|>b", addSpecial: false, parseSpecial: true));
        Assert.DoesNotContain(50256, tokenizer.Encode("a<|endoftext|>b", addSpecial: false, parseSpecial: false));
        Assert.True(tokenizer.IsSpecial(50256));
        Assert.Equal(string.Empty, tokenizer.TokenToPiece(50256, special: false));
    }

    [Fact]
    public void Mpt_user_defined_runs_of_spaces_are_cut_out_longest_first()
    {
        var tokenizer = VocabFiles.Load(VocabFiles.VocabPath("mpt"));
        var threeSpaces = tokenizer.FindToken("   ")!.Value;

        var ids = tokenizer.Encode("a   b", addSpecial: false);

        Assert.Contains(threeSpaces, ids);
        Assert.Equal("a   b", tokenizer.Decode(ids));
    }

    [Fact]
    public void Bert_wraps_text_in_cls_and_sep()
    {
        var tokenizer = VocabFiles.Load(VocabFiles.VocabPath("bert-bge"));

        Assert.Equal(TokenizerKind.WordPiece, tokenizer.Kind);
        Assert.Equal((101, 102, 100), (tokenizer.BosId, tokenizer.SeparatorId, tokenizer.UnknownId));
        Assert.Equal([101, 7592, 2088, 102], tokenizer.Encode("Hello world"));
    }

    [Fact]
    public void Gpt_neox_without_a_pre_tokenizer_name_uses_llama_cpps_default()
    {
        var tokenizer = VocabFiles.Load(VocabFiles.VocabPath("gpt-neox"));

        Assert.Equal("default", tokenizer.PreTokenizer);
        Assert.Equal("Hello world", tokenizer.Decode(tokenizer.Encode("Hello world", addSpecial: false)));
    }

    [Theory]
    [InlineData("llama-spm")]
    [InlineData("gpt-2")]
    public void One_tokenizer_serves_many_threads(string vocabulary)
    {
        var tokenizer = VocabFiles.Load(VocabFiles.VocabPath(vocabulary));
        var texts = VocabFiles.Cases(vocabulary);
        var results = new int[texts.Count][];

        Parallel.For(0, texts.Count * 20, i => results[i % texts.Count] = tokenizer.Encode(texts[i % texts.Count].Text, addSpecial: false));

        for (var i = 0; i < texts.Count; i++)
        {
            Assert.Equal(texts[i].Ids, results[i]);
        }
    }
}
