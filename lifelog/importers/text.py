from .base import ImportFailed, ImportIssue


def decode_utf8(data: bytes, filename: str) -> str:
    """Text formats must be UTF-8; the error says where the first bad byte is."""
    if not data.strip():
        raise ImportFailed([ImportIssue(filename, "the file is empty")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            [
                ImportIssue(
                    filename,
                    f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x}); save it with UTF-8 encoding",
                    line=line,
                )
            ]
        ) from None
