using System.Globalization;
using System.Text;

namespace QuantPS.Inference.Tokenizers;

public sealed partial class LlmTokenizer
{
    /// <summary>
    /// The text of a token sequence, as llama_detokenize gives it: the pieces joined, the
    /// SentencePiece space prefix dropped, and for vocabularies that ask for it the tokenizer's
    /// clean-up of spaces before punctuation. Bytes that do not form UTF-8 become U+FFFD.
    /// </summary>
    /// <param name="ids">Token ids.</param>
    /// <param name="removeSpecial">Drop a leading BOS and trailing EOS the model adds itself.</param>
    /// <param name="unparseSpecial">Write control tokens as their text ("&lt;/s&gt;"); otherwise they are left out.</param>
    public string Decode(IEnumerable<int> ids, bool removeSpecial = false, bool unparseSpecial = true) =>
        Encoding.UTF8.GetString(DecodeToBytes(ids, removeSpecial, unparseSpecial));

    /// <summary>As <see cref="Decode"/>, but the raw UTF-8 bytes (a sequence may end inside a character).</summary>
    public byte[] DecodeToBytes(IEnumerable<int> ids, bool removeSpecial = false, bool unparseSpecial = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var tokens = ids as IReadOnlyList<int> ?? ids.ToArray();
        var (first, count) = (0, tokens.Count);
        var removeSpace = _vocabulary.AddSpacePrefix;
        if (removeSpecial && AddBos && count > 0 && tokens[0] == _vocabulary.Bos)
        {
            removeSpace = false;
            (first, count) = (1, count - 1);
        }

        if (removeSpecial && AddEos && count > 0 && tokens[first + count - 1] == _vocabulary.Eos)
        {
            count--;
        }

        var text = new List<byte>(count * 4);
        for (var i = first; i < first + count; i++)
        {
            var piece = TokenToBytes(tokens[i], unparseSpecial);
            var skip = removeSpace && piece.Length > 0 && piece[0] == (byte)' ' ? 1 : 0;
            text.AddRange(piece.AsSpan(skip).ToArray());
            removeSpace = false;
        }

        var bytes = text.ToArray();
        return _vocabulary.CleanSpaces ? SpaceCleanup.Apply(bytes) : bytes;
    }

    /// <summary>
    /// The text a token stands for ("▁Hello" → " Hello", "Ġworld" → " world", "&lt;0x0A&gt;" → "\n").
    /// A byte token that is only part of a character reads as U+FFFD; use <see cref="TokenToBytes"/> for the byte.
    /// </summary>
    public string TokenToPiece(int id, bool special = true) => Encoding.UTF8.GetString(TokenToBytes(id, special));

    /// <summary>The UTF-8 bytes a token stands for; control and unknown tokens give nothing unless <paramref name="special"/>.</summary>
    public byte[] TokenToBytes(int id, bool special = true)
    {
        var attributes = _vocabulary.Attributes[CheckId(id)];
        const TokenAttributes hidden = TokenAttributes.Unknown | TokenAttributes.Control;
        if (!special && (attributes & hidden) != 0)
        {
            return [];
        }

        var text = _vocabulary.Texts[id];
        if (Kind == TokenizerKind.Rwkv)
        {
            return RwkvEncoder.Unescape(text);
        }

        if ((attributes & (hidden | TokenAttributes.UserDefined)) != 0)
        {
            return Encoding.UTF8.GetBytes(text);
        }

        if ((attributes & TokenAttributes.Normal) != 0)
        {
            if (Kind == TokenizerKind.BytePairEncoding && !_vocabulary.EscapeWhitespaces)
            {
                return DecodeByteLevel(text);
            }

            if (_vocabulary.ModelName == "hybriddna" && text.EndsWith('\uE000') && text.Length > 1)
            {
                text = text[..^1]; // DNA k-mers read as their bases
            }

            return Encoding.UTF8.GetBytes(text.Replace(EscapedSpace, ' '));
        }

        if ((attributes & TokenAttributes.Byte) != 0 && text.Length >= 5
            && byte.TryParse(text.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value))
        {
            return [value];
        }

        return []; // unused and undefined tokens render as nothing
    }

    // GPT-2 characters back to bytes; a character outside the map is shown, as llama.cpp does.
    private static byte[] DecodeByteLevel(string text)
    {
        var bytes = new List<byte>(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.IsBmp && ByteLevelEncoding.TryDecode((char)rune.Value, out var b))
            {
                bytes.Add(b);
                continue;
            }

            var utf8 = new byte[rune.Utf8SequenceLength];
            rune.EncodeToUtf8(utf8);
            bytes.AddRange(Encoding.UTF8.GetBytes("[UNK_BYTE_0x" + Convert.ToHexString(utf8).ToLowerInvariant() + text + "]"));
        }

        return bytes.ToArray();
    }
}
