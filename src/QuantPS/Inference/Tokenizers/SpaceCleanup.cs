namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// Hugging Face's clean_up_tokenization_spaces as llama.cpp applies it to detokenized bytes:
/// " ?" " !" " ." " ," lose their space, a lone " ' " closes up, and " 's" " 'm" " 're" " 've"
/// attach to the word before. Done in place, pass by pass, exactly as llama.cpp does, because
/// later passes see what earlier ones wrote.
/// </summary>
internal static class SpaceCleanup
{
    public static byte[] Apply(byte[] text)
    {
        var total = text.Length;
        total = PunctuationPass(text, total);
        total = ApostrophePass(text, total);
        total = ContractionPass(text, total);
        return text.AsSpan(0, total).ToArray();
    }

    private static int PunctuationPass(byte[] text, int length)
    {
        var total = length > 0 ? 1 : 0;
        for (var i = 1; i < length; i++)
        {
            var x = text[i];
            if (text[i - 1] == ' ' && x is (byte)'?' or (byte)'!' or (byte)'.' or (byte)',')
            {
                total--;
            }

            text[total++] = x;
        }

        return total;
    }

    private static int ApostrophePass(byte[] text, int length)
    {
        var total = length > 0 ? 1 : 0;
        for (var i = 1; i < length; i++)
        {
            var x = text[i];
            if (x == '\'' && i + 1 < length && text[i - 1] == ' ' && text[i + 1] == ' ')
            {
                total--;
                text[++i] = 0; // the space after is dropped (and read as NUL by the next character)
            }

            text[total++] = x;
        }

        return total;
    }

    private static int ContractionPass(byte[] text, int length)
    {
        var total = length > 0 ? 1 : 0;
        for (var i = 1; i < length; i++)
        {
            var x = text[i];
            if (text[i - 1] == ' ' && x == '\'' && i + 1 < length)
            {
                var x1 = text[i + 1];
                if (x1 is (byte)'s' or (byte)'m')
                {
                    total--;
                }
                else if (x1 is not ((byte)'t' or (byte)'d') && i + 2 < length)
                {
                    var x2 = text[i + 2];
                    if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e'))
                    {
                        total--;
                    }
                }
            }

            text[total++] = x;
        }

        return total;
    }
}
