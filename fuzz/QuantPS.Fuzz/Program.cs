using QuantPS.Gguf;
using SharpFuzz;

namespace QuantPS.Fuzz;

/// <summary>
/// The fuzz target: any byte string must parse as a GGUF header or be refused with a
/// GgufException; any other exception (or a crash, hang or runaway allocation) is a finding.
/// Both parse modes run, since lenient parsing walks paths strict parsing stops before.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--libfuzzer")
        {
            Fuzzer.LibFuzzer.Run(span => ParseBoth(span));
            return;
        }

        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            ParseBoth(buffer.ToArray());
        });
    }

    private static void ParseBoth(ReadOnlySpan<byte> bytes)
    {
        foreach (var mode in new[] { GgufParseMode.Strict, GgufParseMode.Lenient })
        {
            try
            {
                GgufHeader.Parse(bytes, mode);
            }
            catch (GgufException)
            {
                // Refusing malformed input is the expected outcome.
            }
        }
    }
}
