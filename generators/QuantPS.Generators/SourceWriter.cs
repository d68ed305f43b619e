using System;
using System.Text;

namespace QuantPS.Generators;

/// <summary>A StringBuilder that indents with braces, so emitters read like the code they write.</summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder text = new();
    private int depth;

    public SourceWriter Line(string line = "")
    {
        if (line.Length > 0)
        {
            text.Append(' ', depth * 4).Append(line);
        }

        text.Append('\n');
        return this;
    }

    /// <summary>Writes a multi-line template at the current indentation (lines split on '\n').</summary>
    public SourceWriter Lines(string text)
    {
        foreach (var line in text.Replace("\r\n", "\n").Split('\n'))
        {
            Line(line.TrimEnd());
        }

        return this;
    }

    /// <summary>Writes <paramref name="header"/> and an opening brace; dispose to close it.</summary>
    public IDisposable Block(string header)
    {
        Line(header).Line("{");
        depth++;
        return new Closer(this, "}");
    }

    /// <summary>Writes an opening brace under the line before (a method's signature); dispose to close it.</summary>
    public IDisposable Braces()
    {
        Line("{");
        depth++;
        return new Closer(this, "}");
    }

    public override string ToString() => text.ToString();

    private sealed class Closer(SourceWriter writer, string closing) : IDisposable
    {
        public void Dispose()
        {
            writer.depth--;
            writer.Line(closing);
        }
    }
}
