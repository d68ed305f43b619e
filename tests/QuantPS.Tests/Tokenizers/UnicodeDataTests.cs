using QuantPS.Inference.Tokenizers;
using Xunit;

namespace QuantPS.Tests.Tokenizers;

/// <summary>The Unicode facts the pre-tokenizers rely on, derived from .NET's tables.</summary>
public sealed class UnicodeDataTests
{
    [Theory]
    [InlineData('A', (int)(CodepointFlags.Letter))]
    [InlineData('7', (int)(CodepointFlags.Number))]
    [InlineData(0x00BD, (int)(CodepointFlags.Number))] // ½
    [InlineData('$', (int)(CodepointFlags.Symbol))]
    [InlineData('!', (int)(CodepointFlags.Punctuation))]
    [InlineData(0x0301, (int)(CodepointFlags.Mark))]
    [InlineData(0x200D, (int)(CodepointFlags.Control))] // zero-width joiner is a format character
    [InlineData(' ', (int)(CodepointFlags.Separator | CodepointFlags.Whitespace))]
    [InlineData('\n', (int)(CodepointFlags.Control | CodepointFlags.Whitespace))]
    [InlineData(0x0085, (int)(CodepointFlags.Control | CodepointFlags.Whitespace))]
    [InlineData(0x3000, (int)(CodepointFlags.Separator | CodepointFlags.Whitespace))]
    [InlineData(0x001C, (int)(CodepointFlags.Control))] // not White_Space, unlike Python's isspace
    [InlineData(0x1F999, (int)(CodepointFlags.Symbol))] // 🦙
    [InlineData(0x10FFFF, (int)(CodepointFlags.Undefined))]
    public void Codepoints_have_llama_cpps_flags(int codepoint, int expected)
    {
        Assert.Equal((CodepointFlags)expected, UnicodeData.Flags(codepoint));
    }

    [Theory]
    [InlineData('A', 'a')]
    [InlineData(0x0130, 'i')] // İ lowercases to i in UnicodeData.txt
    [InlineData(0x0416, 0x0436)] // Ж
    [InlineData(0x10400, 0x10428)] // Deseret
    [InlineData('1', '1')]
    public void Lowercase_is_the_simple_mapping(int codepoint, int expected)
    {
        Assert.Equal(expected, UnicodeData.ToLower(codepoint));
    }

    [Theory]
    [InlineData(0x00E9, 'e')] // é
    [InlineData(0x1EED, 'u')] // ử: u + horn + hook
    [InlineData(0x212B, 'A')] // Ångström sign
    [InlineData('x', 'x')]
    [InlineData(0xFFFE, 0xFFFE)]
    public void Accent_stripping_keeps_the_first_codepoint_of_the_decomposition(int codepoint, int expected)
    {
        Assert.Equal(expected, UnicodeData.NfdFirst(codepoint));
    }

    [Fact]
    public void Unpaired_surrogates_read_as_replacement_characters()
    {
        Assert.Equal([0x61, 0xFFFD, 0x1F600], UnicodeData.Codepoints("a\uD800😀"));
    }
}
