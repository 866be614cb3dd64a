FROM python:3.11-slim-bookworm
WORKDIR /app
# Chromium prints the PDF report (`report weekly --format pdf`, and beside the HTML on Mondays).
RUN apt-get update && apt-get install -y --no-install-recommends chromium && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY content_calendar ./content_calendar
COPY scheduler ./scheduler
COPY workers ./workers
COPY platforms ./platforms
COPY cli ./cli
COPY web ./web
RUN pip install --no-cache-dir ".[postgres]"
COPY campaigns ./campaigns
RUN useradd --create-home --uid 10001 campaign && mkdir -p /data && chown campaign /data
USER campaign
ENV CAMPAIGN_DATA_DIR=/data CAMPAIGN_CAMPAIGNS_DIR=/app/campaigns
ENTRYPOINT ["campaign"]
